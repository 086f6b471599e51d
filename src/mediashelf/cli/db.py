"""`mediashelf db`: schema migrations."""

from __future__ import annotations

import typer

from mediashelf.cli.exits import USAGE
from mediashelf.cli.wiring import err, fail, load_settings, out
from mediashelf.db import migrate
from mediashelf.db.session import Database
from mediashelf.errors import MediashelfError

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database schema to the newest revision."""
    try:
        with Database(load_settings().effective_database_url) as db:
            migrate.upgrade(db)
            revision = migrate.current_revision(db)
    except MediashelfError as exc:
        raise fail(exc) from exc
    out.print(f"schema at revision {revision}")


@app.command("check")
def check() -> None:
    """Exit non-zero unless the schema is at the newest revision and matches the models."""
    try:
        with Database(load_settings().effective_database_url) as db:
            current, head = migrate.current_revision(db), migrate.head_revision()
            diff = migrate.schema_diff(db) if current == head else []
    except MediashelfError as exc:
        raise fail(exc) from exc
    if current != head:
        err.print(f"schema at {current}, newest is {head}: run `mediashelf db upgrade`")
        raise typer.Exit(USAGE)
    if diff:
        err.print(f"schema differs from the models: {diff}")
        raise typer.Exit(USAGE)
    out.print(f"schema current ({head})")
