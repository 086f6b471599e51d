"""`mediashelf db`: schema migrations, backups and restores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mediashelf.cli.exits import FAILED, OK, USAGE
from mediashelf.cli.wiring import JsonFlag, clean_exits, err, load_settings, out
from mediashelf.errors import DatabaseInUse

if TYPE_CHECKING:
    from mediashelf.config import Settings

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Database schema, backups and restores."
)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database schema to the newest revision."""
    from mediashelf.db import migrate
    from mediashelf.db.session import Database

    with clean_exits(), Database(load_settings().effective_database_url) as db:
        migrate.upgrade(db)
        revision = migrate.current_revision(db)
    out.print(f"schema at revision {revision}")


@app.command("downgrade")
def downgrade(revision: str) -> None:
    """Take the schema back to REVISION (e.g. 0004) before going back to an older release.

    Run it with the newer release installed: only it knows how to undo its migrations. The
    columns and indexes the later revisions added are dropped, with what they held.
    """
    from mediashelf.db import migrate
    from mediashelf.db.session import Database

    known = migrate.file_revisions()
    if revision not in known:
        err.print(f"unknown revision {revision!r}: one of {', '.join(known)}")
        raise typer.Exit(USAGE)
    with clean_exits():
        settings = load_settings()
        with Database(settings.effective_database_url) as db:
            current = migrate.current_revision(db)
            if current is None:
                err.print("the database has no schema yet: nothing to take back")
                raise typer.Exit(USAGE)
            if current == revision:
                out.print(f"schema at revision {current} already")
                return
            if current < revision:
                err.print(f"schema at revision {current}, older than {revision}: "
                          "`mediashelf db upgrade` goes forward")  # fmt: skip
                raise typer.Exit(USAGE)
            _refuse_while_in_use(settings, "take the schema back")
            migrate.downgrade(db, revision)
            current = migrate.current_revision(db)
    out.print(f"schema at revision {current}")


@app.command("check")
def check(as_json: JsonFlag = False) -> None:
    """Exit non-zero unless the schema is at the newest revision and matches the models."""
    from mediashelf.db import migrate
    from mediashelf.db.backup import damage
    from mediashelf.db.engine import sqlite_path
    from mediashelf.db.session import Database

    current: str | None = None
    diff: list[Any] = []
    damaged: str | None = None
    with clean_exits({} if as_json else None):
        url = load_settings().effective_database_url
        head, db_file = migrate.head_revision(), sqlite_path(url)
        if db_file is None or db_file.exists():  # checking must not create an empty file
            with Database(url) as db:
                current = migrate.current_revision(db)
                migrate.refuse_newer(current)
                diff = migrate.schema_diff(db) if current == head else []
            damaged = damage(db_file) if db_file is not None else None
    code, message = OK, f"schema current ({head})"
    if damaged:
        code, message = FAILED, (f"the database file is damaged ({damaged}): restore a backup "
                                 "with `mediashelf db restore`")  # fmt: skip
    elif current != head:
        code, message = USAGE, f"schema at {current}, newest is {head}: run `mediashelf db upgrade`"
    elif diff:
        code, message = USAGE, f"schema differs from the models: {diff}"
    if as_json:
        body = {"status": "ok" if code == OK else "error", "revision": current, "head": head,
                "schema_differences": len(diff), "damaged": damaged}  # fmt: skip
        out.print_json(json.dumps(body if code == OK else {**body, "error": message}))
    else:
        (out if code == OK else err).print(message, highlight=False)
    if code != OK:
        raise typer.Exit(code)


@app.command("backup")
def backup(path: Path) -> None:
    """Copy the SQLite database to PATH, consistently, while the service runs."""
    from mediashelf.db import backup as backups
    from mediashelf.db.engine import sqlite_path

    with clean_exits():
        settings = load_settings()
        url = settings.effective_database_url
        db_file = sqlite_path(url)
        if db_file is None:
            err.print("PostgreSQL is backed up with pg_dump (the password comes from "
                      "PGPASSWORD or ~/.pgpass):")  # fmt: skip
            out.print(backups.dump_command(url, path), highlight=False, soft_wrap=True)
            raise typer.Exit(USAGE)
        info = backups.backup_sqlite(db_file, path, settings.sqlite_busy_timeout_ms)
    out.print(f"backed up {db_file} to {info.path} ({info.size_bytes} bytes, schema "
              f"{info.revision})", highlight=False, soft_wrap=True)  # fmt: skip


@app.command("restore")
def restore(path: Path) -> None:
    """Replace the SQLite database with the backup at PATH (stop serve and workers first)."""
    from mediashelf.db import backup as backups
    from mediashelf.db import migrate
    from mediashelf.db.engine import sqlite_path

    with clean_exits():
        settings = load_settings()
        url = settings.effective_database_url
        db_file = sqlite_path(url)
        if db_file is None:
            err.print("PostgreSQL is restored with pg_restore, with every mediashelf process "
                      "stopped:")  # fmt: skip
            out.print(backups.restore_command(url, path), highlight=False, soft_wrap=True)
            raise typer.Exit(USAGE)
        info, kept = backups.restore_sqlite(
            path, db_file, lambda: _refuse_while_in_use(settings), settings.sqlite_busy_timeout_ms
        )
    replaced = f"the database it replaced is kept as {kept}" if kept else "there was none before"
    out.print(f"restored {path} (schema {info.revision}) into {db_file}; {replaced}",
              highlight=False, soft_wrap=True)  # fmt: skip
    head = migrate.head_revision()
    if info.revision != head:
        out.print(f"its schema is migrated to {head} at the next start "
                  "(or run `mediashelf db upgrade`)")  # fmt: skip


def _refuse_while_in_use(settings: Settings, then: str = "restore") -> None:
    """Raise DatabaseInUse when a worker heartbeated within the lease (it would write on,
    through the schema and the file it opened).

    A database that cannot tell records no worker: a damaged file (what a restore is for:
    it was refused as "damaged", the one way out) or a schema older than the workers table
    (a restored old backup, which refused the restore that undoes it). A database locked
    by another process, or unreachable, still refuses.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from mediashelf.clock import SystemClock
    from mediashelf.db import migrate
    from mediashelf.db.outage import is_transient
    from mediashelf.db.session import Database
    from mediashelf.jobs.service import job_stats

    try:
        with Database(settings.effective_database_url, settings.sqlite_busy_timeout_ms) as db:
            if migrate.current_revision(db) is None:
                return
            with db.unit_of_work() as session:
                alive = job_stats(session, SystemClock(), settings.lease_s).workers
                shown = ", ".join(f"{w.host} pid {w.pid}" for w in alive)
    except SQLAlchemyError as exc:
        if is_transient(exc):
            raise
        return
    if alive:
        raise DatabaseInUse(
            f"The database is in use: {len(alive)} worker(s) heartbeated within the last "
            f"{settings.lease_s:g}s ({shown}). Stop `mediashelf serve` and `mediashelf worker`, "
            f"then {then}."
        )
