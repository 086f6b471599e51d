"""The `mediashelf` command: serve, rescan, db, demo."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from mediashelf.cli.exits import OK, USAGE, exit_code_for
from mediashelf.cli.logs import configure_logging
from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db import migrate
from mediashelf.db.session import Database
from mediashelf.errors import ConfigError, LibraryUnavailable, MediashelfError
from mediashelf.library.rescan import RescanOptions, rescan_track
from mediashelf.probe.chain import build_chain
from mediashelf.probe.pool import ProbePool

app = typer.Typer(no_args_is_help=True, help="Keep a media library's technical facts accurate.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment plus the flags that were given."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(f"Invalid configuration: {exc.errors()[0]['msg']}") from exc


def fail(exc: MediashelfError) -> typer.Exit:
    """Print `exc` and return the exit to raise."""
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(exit_code_for(exc))


def is_loopback(host: str) -> bool:
    """Tell whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    library: Annotated[Path | None, typer.Option(help="Library root folder.")] = None,
    insecure: Annotated[bool, typer.Option(help="Allow a public bind without a token.")] = False,
    sync: Annotated[bool, typer.Option(help="Index the library at start-up.")] = True,
) -> None:
    """Run the web app and API."""
    import uvicorn

    from mediashelf.web.app import create_app
    from mediashelf.web.context import AppContext

    try:
        settings = load_settings(host=host, port=port, library=library)
        configure_logging(settings.log_format)
        if not is_loopback(settings.host) and not settings.api_token and not insecure:
            raise ConfigError(
                f"Refusing to bind {settings.host} without MEDIASHELF_API_TOKEN "
                "(pass --insecure to do it anyway)."
            )
        ctx = AppContext.from_settings(settings)
    except MediashelfError as exc:
        raise fail(exc) from exc
    uvicorn.run(create_app(ctx, initial_sync=sync), host=settings.host, port=settings.port)


@app.command()
def rescan(
    video_id: str,
    refresh_duration: Annotated[bool, typer.Option(help="Also overwrite the duration.")] = False,
    refresh_size: Annotated[bool, typer.Option(help="Also overwrite the size.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Probe one track's file now and update its media facts."""
    try:
        settings = load_settings()
        if settings.library is None:
            raise LibraryUnavailable("Set MEDIASHELF_LIBRARY to the library root.")
        options = RescanOptions(refresh_duration, refresh_size)
        db = Database(settings.effective_database_url)
        pool = ProbePool(build_chain(settings), 1, settings.probe_timeout_s)
        with db, pool, db.unit_of_work() as session:
            migrate.upgrade(db)
            outcome = rescan_track(
                session, root=settings.library, runner=pool, clock=SystemClock(),
                video_id=video_id, options=options, actor="cli",
            )  # fmt: skip
            changes = outcome.as_json()
    except MediashelfError as exc:
        raise fail(exc) from exc
    if as_json:
        out.print_json(json.dumps({"status": "ok", "video_id": video_id, "changes": changes}))
        return
    if not changes:
        out.print(f"{video_id}: nothing changed")
        return
    table = Table("field", "old", "new", title=f"{video_id}: {len(changes)} changed")
    for name, (old, new) in changes.items():
        table.add_row(name, _show(old), _show(new))
    out.print(table)


def _show(value: object) -> str:
    return "-" if value is None else str(value)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database schema to the newest revision."""
    try:
        with Database(load_settings().effective_database_url) as db:
            migrate.upgrade(db)
            revision = migrate.current_revision(db)
        out.print(f"schema at revision {revision}")
    except MediashelfError as exc:
        raise fail(exc) from exc


@db_app.command("check")
def db_check() -> None:
    """Exit non-zero unless the schema is at the newest revision and matches the models."""
    try:
        with Database(load_settings().effective_database_url) as db:
            current, head = migrate.current_revision(db), migrate.head_revision()
            diff = migrate.schema_diff(db) if current == head else []
        if current != head:
            err.print(f"schema at {current}, newest is {head}: run `mediashelf db upgrade`")
            raise typer.Exit(USAGE)
        if diff:
            err.print(f"schema differs from the models: {diff}")
            raise typer.Exit(USAGE)
        out.print(f"schema current ({head})")
    except MediashelfError as exc:
        raise fail(exc) from exc


@app.command()
def demo(
    path: Path,
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many clips.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the generated names and content.")] = 0,
) -> None:
    """Write a small demo library of generated audio and video clips to PATH."""
    from mediashelf.demo_library import write_demo_library

    written = write_demo_library(path, count, seed=seed)
    out.print(f"wrote {written} clips to {path}")
    raise typer.Exit(OK)
