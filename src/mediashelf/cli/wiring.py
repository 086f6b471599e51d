"""Shared by the CLI commands: settings from flags, the runtime, error exits."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from mediashelf.cli.exits import exit_code_for
from mediashelf.cli.startup import imports_done
from mediashelf.errors import (
    ConfigError,
    DatabaseError,
    DatabaseUnavailable,
    MediashelfError,
    ProbeError,
)

if TYPE_CHECKING:  # imported when a command runs: `mediashelf --help` stays quick
    from mediashelf.config import Settings
    from mediashelf.probe.pool import ProbePool
    from mediashelf.runtime import Runtime

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Return `text` with terminal control characters shown as escapes (names are data)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class DataConsole(Console):
    """A console that prints text as it is: no markup unless asked, no control characters.

    File names, job summaries and error messages reach the terminal; a name like
    `[/x].flac` must not be read as markup (rich raises on it) nor `\x1b[…` drive the terminal.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print `objects`; text without markup (unless `markup=True`) or control characters."""
        kwargs.setdefault("markup", False)
        super().print(*(printable(o) if isinstance(o, str) else o for o in objects), **kwargs)


# soft_wrap: a line is never broken at the console's width. Piped, that width is 80, and
# progress lines and summaries broke mid-field for whatever read them (`| grep`, `key=value`).
out = DataConsole(soft_wrap=True)
err = DataConsole(stderr=True, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
# For commands taking a VIDEO_ID: ids are base64url, and one in 64 starts with "-", which
# the parser took for an option ("No such option: -8"); an unknown option is the id now.
TAKES_IDS = {"ignore_unknown_options": True}


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment plus the flags that were given."""
    from pydantic import ValidationError

    from mediashelf.config import Settings

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "MEDIASHELF_" + "_".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"Invalid setting {where}: {message}") from exc


def fail(exc: MediashelfError, json_subject: dict[str, Any] | None = None) -> typer.Exit:
    """Print `exc` (as one JSON object on stdout when `json_subject` is given); return the exit.

    `json_subject` holds what the failed command was about (e.g. the video id), so scripts
    reading `--json` get one object on every outcome.
    """
    if json_subject is not None:
        body: dict[str, Any] = {"status": "error", **json_subject, "error": exc.message}
        if isinstance(exc, ProbeError):
            body["error_class"] = exc.error_class
        out.print_json(json.dumps(body))
    else:
        err.print(f"[red]error:[/red] {escape(exc.message)}", markup=True, highlight=False,
                  soft_wrap=True)  # fmt: skip
    return typer.Exit(exit_code_for(exc))


@contextmanager
def clean_exits(json_errors: dict[str, Any] | None = None) -> Iterator[None]:
    """Turn mediashelf and database errors into one line (or JSON object) and an exit code."""
    try:
        yield
    except MediashelfError as exc:
        raise fail(exc, json_errors) from exc
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError  # imported late: `--help` stays quick

        if not isinstance(exc, SQLAlchemyError):
            raise
        raise fail(database_failure(exc), json_errors) from exc


def require_database(settings: Settings) -> None:
    """Raise DatabaseUnavailable when the settings name a SQLite file that does not exist.

    Opening it would create an empty database, and a mistyped MEDIASHELF_DATABASE_URL (or
    data folder) would then answer "no jobs" or "0 problems" as if the library were fine.
    """
    from mediashelf.db.engine import sqlite_path

    path = sqlite_path(settings.effective_database_url)
    if path is None or path.exists() or path.parent.is_file():
        return  # (a data folder that is a file: make_data_folder names that)
    raise DatabaseUnavailable(
        f"No database at {path}: nothing has run with this MEDIASHELF_DATABASE_URL (or "
        "MEDIASHELF_DATA_DIR) yet. Check the setting; `mediashelf scan`, `serve` or "
        "`db upgrade` create the database."
    )


def build_runtime(settings: Settings, pool: ProbePool | None = None) -> Runtime:
    """Return a Runtime for `settings` (an unusable data folder is a ConfigError from
    `db.engine.make_data_folder`)."""
    from mediashelf.runtime import Runtime

    return Runtime.from_settings(settings, pool=pool)


@contextmanager
def opened_runtime(
    json_errors: dict[str, Any] | None = None,
    *,
    early_pool: bool = False,
    scan_ahead: Mapping[str, object] | None = None,
    indexed_only: bool = False,
    **overrides: Any,
) -> Iterator[Runtime]:
    """Yield a migrated Runtime; close it afterwards and turn errors into clean exits.

    `indexed_only`: the command reads or acts on what a scan indexed (jobs, tracks, problems),
    so it never creates a database (`require_database`).

    `early_pool` starts the probe pool before anything else is imported: its forkserver
    imports libav on the other core while this process imports the database layer and
    migrates (0.1-0.3 s off a short `mediashelf scan` on two cores). With `scan_ahead` (the
    params of the library scan about to be requested) the pool also probes that scan's first
    files meanwhile, where it is sure to probe them (library/scan_ahead.py). The pool is
    wasted (and closed) when a running service's workers take the job instead.
    """
    runtime: Runtime | None = None
    pool: ProbePool | None = None
    try:
        with clean_exits(json_errors):
            settings = load_settings(**overrides)
            if indexed_only:
                require_database(settings)
            if early_pool:
                pool = _started_pool(settings)
                if scan_ahead is not None:
                    from mediashelf.library.scan_ahead import probe_ahead

                    probe_ahead(pool, settings, scan_ahead)
            runtime = build_runtime(settings, pool)
            runtime.migrate()
            imports_done()
            yield runtime
    finally:
        if runtime is not None:
            runtime.close()
        elif pool is not None:
            pool.close()


# pebble's pool threads check their state every `sleep_unit` (0.1 s), so stopping a pool
# waits up to that long twice. A command that exits when its job ends polls faster instead:
# stopping takes ~0.02 s. Long-running processes (serve, worker) keep pebble's default.
COMMAND_POOL_POLL_S = 0.02


def _started_pool(settings: Settings) -> ProbePool:
    from pebble.common.types import CONSTS

    from mediashelf.probe.pool import ProbePool

    CONSTS.sleep_unit = COMMAND_POOL_POLL_S

    pool = ProbePool.for_settings(settings)
    pool.warm()
    return pool


def database_failure(exc: Exception) -> MediashelfError:
    """Return the user-facing error for a database failure: its class, never its address."""
    from sqlalchemy.exc import ArgumentError

    from mediashelf.db.outage import describe, is_storage_full, is_transient

    if isinstance(exc, ArgumentError):  # an unknown dialect or driver, a malformed URL
        return ConfigError("Invalid setting MEDIASHELF_DATABASE_URL: not a database URL "
                           "mediashelf can use (sqlite:///… or postgresql://…).")  # fmt: skip
    if is_transient(exc) or is_storage_full(exc):
        return DatabaseUnavailable(f"The database is unavailable: {describe(exc)}.")
    return DatabaseError(f"The database cannot be used: {describe(exc)}.")


def is_loopback(host: str) -> bool:
    """Tell whether `host` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Raise ConfigError when `host`:`port` cannot be listened on (in use, not this machine's).

    The web server would find out only after the database was opened and migrated, then
    print its own log lines and exit 3 ("not found"); checked first, it is one line, exit 2.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Is another server "
                "running there? Choose another port with --port or MEDIASHELF_PORT."
            ) from exc
