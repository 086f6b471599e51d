"""Backups of the SQLite database while the service runs, and their restore.

`sqlite3.Connection.backup` copies the database in one step, inside one read transaction:
the copy is the database as it was when that transaction began, with every transaction
committed before it and none after (WAL lets writers go on meanwhile). A restore goes through
the same API in the other direction, under SQLite's write lock, instead of replacing the
file beneath open connections (which would corrupt it together with its -wal and -shm).
PostgreSQL has pg_dump and pg_restore for this; `dump_command` prints the exact command.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from mediashelf.db.engine import make_data_folder
from mediashelf.db.migrate import (
    MIGRATE_LOCK_SUFFIX,
    head_revision,
    known_revision,
    migration_lock,
    upgrade,
)
from mediashelf.db.session import Database
from mediashelf.errors import BackupNotFound, DatabaseError, InvalidBackup, InvalidInput


@dataclass(frozen=True)
class BackupInfo:
    """A database file and the schema revision it holds."""

    path: Path
    revision: str | None
    size_bytes: int


def _libpq_url(url: str) -> str:
    """Return `url` as libpq takes it, without the password (PGPASSWORD or ~/.pgpass give it)."""
    parsed = make_url(url)
    bare = URL.create("postgresql", parsed.username, None, parsed.host, parsed.port,
                      parsed.database, parsed.query)  # fmt: skip
    return bare.render_as_string(hide_password=False)


def dump_command(url: str, dest: Path) -> str:
    """Return the pg_dump command that backs up the PostgreSQL database at `url` to `dest`."""
    return f"pg_dump --format=custom --file={shlex.quote(str(dest))} {shlex.quote(_libpq_url(url))}"


def restore_command(url: str, src: Path) -> str:
    """Return the pg_restore command that restores `src` into the database at `url`."""
    target = shlex.quote(_libpq_url(url))
    return f"pg_restore --clean --if-exists --no-owner --dbname={target} {shlex.quote(str(src))}"


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _copy(src: sqlite3.Connection, dest_file: Path, busy_timeout_ms: int) -> None:
    """Copy `src` whole into `dest_file`; give up when it stays locked past the timeout.

    sqlite3's backup retries a locked database forever (its busy timeout does not apply):
    a restore over a database another process was writing hung until that process let go.
    It asks `progress` between attempts, and stops at its exception.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000

    def give_up_when_late(_status: int, _remaining: int, _total: int) -> None:
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked by another process")

    with closing(sqlite3.connect(dest_file, timeout=busy_timeout_ms / 1000)) as dest:
        # pages=-1: one step, one read transaction, one consistent snapshot
        src.backup(dest, progress=give_up_when_late)
        dest.commit()


def backup_sqlite(db_file: Path, dest: Path, busy_timeout_ms: int = 10_000) -> BackupInfo:
    """Copy the live database at `db_file` to `dest` (a single self-contained file)."""
    if not db_file.is_file():
        raise DatabaseError(f"There is no database at {db_file} to back up.")
    dest = dest.absolute()
    _refuse_live_files(db_file, dest, "back up to")
    if dest.exists() and not stat.S_ISREG(dest.stat().st_mode):  # a device, a FIFO, a folder
        raise InvalidInput(f"Cannot back up to {dest}: it is not a regular file.")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    with _failures("backup"):
        partial.unlink(missing_ok=True)
        try:
            _backup_to(db_file, partial, dest, busy_timeout_ms)
        finally:
            partial.unlink(missing_ok=True)
    return BackupInfo(dest, _revision_of(dest), dest.stat().st_size)


def _backup_to(db_file: Path, partial: Path, dest: Path, busy_timeout_ms: int) -> None:
    with closing(sqlite3.connect(db_file, timeout=busy_timeout_ms / 1000)) as src:
        _copy(src, partial, busy_timeout_ms)
    with closing(sqlite3.connect(partial)) as copy:
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        _check_integrity(copy, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, dest)


def _refuse_live_files(db_file: Path, other: Path, what: str) -> None:
    """Raise InvalidInput when `other` is the live database or one of its companion files.

    Replacing the live file beneath open connections (or writing over its -wal or -shm)
    would split or corrupt the database every running process has open.
    """
    companions = ("-wal", "-shm", "-journal", MIGRATE_LOCK_SUFFIX)
    live = [db_file, *(db_file.with_name(db_file.name + s) for s in companions)]
    for path in live:
        same = other.resolve() == path.resolve()
        if same or (other.exists() and path.exists() and other.samefile(path)):
            raise InvalidInput(f"Cannot {what} {other}: it is the live database itself.")


def damage(db_file: Path) -> str | None:
    """Return what SQLite's quick_check finds wrong in the file at `db_file`; None when sound.

    The service runs on over a damaged file (reads of the damaged pages fail one by one), and
    the schema check alone passes, so `db check` asks this too. It reads the whole file, so
    `doctor`, meant to be quick, does not.
    """
    try:
        with closing(sqlite3.connect(f"{db_file.absolute().as_uri()}?mode=ro", uri=True)) as conn:
            verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if verdict == "ok" else verdict


def _revision_of(path: Path) -> str | None:
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as conn:
        return _revision(conn)


@contextmanager
def _failures(what: str) -> Iterator[None]:
    """Report SQLite and file errors of a backup or restore as a DatabaseError."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DatabaseError(f"The {what} failed: {exc}.") from exc
    except OSError as exc:
        raise DatabaseError(f"The {what} failed: {exc.strerror} ({exc.filename}).") from exc


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise InvalidBackup(f"{path.name} is not a SQLite database ({exc}).") from exc
    if verdict != "ok":
        raise InvalidBackup(f"{path.name} is damaged: {verdict}.")


def inspect_backup(src: Path) -> BackupInfo:
    """Return what the backup at `src` holds; raise InvalidBackup when it cannot be restored.

    A backup of a newer schema than this version ships is refused: this version's code
    would misread it, and its migrations cannot go back.
    """
    if not src.exists():
        raise BackupNotFound(f"There is no backup file at {src}.")
    if not src.is_file():
        raise InvalidBackup(f"{src} is not a file: give the backup file itself.")
    with closing(sqlite3.connect(f"{src.absolute().as_uri()}?mode=ro", uri=True)) as conn:
        _check_integrity(conn, src)
        revision = _revision(conn)
    if revision is None:
        raise InvalidBackup(f"{src.name} is not a mediashelf database (it has no schema version).")
    if not known_revision(revision):
        raise InvalidBackup(
            f"{src.name} holds schema {revision}, newer than this version knows "
            f"({head_revision()}); restore it with the mediashelf version that wrote it."
        )
    with closing(sqlite3.connect(f"{src.absolute().as_uri()}?mode=ro", uri=True)) as conn:
        lacking = _lacking(_columns(conn), _schema_at(revision))
    if lacking:
        raise InvalidBackup(f"{src.name} is not a mediashelf database: it says schema "
                            f"{revision}, but lacks {lacking}.")  # fmt: skip
    return BackupInfo(src, revision, src.stat().st_size)


def _columns(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """Return {table: its column names} of a SQLite database."""
    tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                               "'table' AND name NOT LIKE 'sqlite_%'")]  # fmt: skip
    return {
        table: {name for (name,) in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))}
        for table in tables
    }


def _schema_at(revision: str) -> dict[str, set[str]]:
    """Return the tables and columns the migrations give a new database at `revision`.

    A restore replaces the live database; a file that only carries an `alembic_version` row
    (another program's database, a hand-made one) would be taken for a library, and every
    page and command then failed on a missing table. Built by migrating an empty file, so it
    holds for every revision shipped, old ones included.
    """
    with tempfile.TemporaryDirectory(prefix="mediashelf-schema-") as folder:
        reference = Path(folder) / "reference.db"
        db = Database(f"sqlite:///{reference}")
        try:
            upgrade(db, revision)
        finally:
            db.dispose()
        with closing(sqlite3.connect(reference)) as conn:
            return _columns(conn)


def _lacking(found: dict[str, set[str]], expected: dict[str, set[str]]) -> str:
    """Say which tables, and columns of present tables, `expected` has and `found` lacks."""
    tables = sorted(set(expected) - set(found))
    columns = [f"{table}.{column}" for table in sorted(set(expected) & set(found))
               for column in sorted(expected[table] - found[table])]  # fmt: skip
    parts = [f"table {table}" for table in tables] + columns[:3]
    if len(columns) > 3:
        parts.append(f"{len(columns) - 3} more columns")
    return ", ".join(parts)


def restore_sqlite(
    src: Path,
    db_file: Path,
    refuse_if_in_use: Callable[[], None],
    busy_timeout_ms: int = 10_000,
) -> tuple[BackupInfo, Path | None]:
    """Replace the database at `db_file` with the backup `src`; return what was restored and
    where the database it replaced is kept (`<name>.before-restore`; None when there was none).

    The migration lock is held throughout (a service starting meanwhile waits for it instead
    of migrating half a file), and `refuse_if_in_use` runs under it, raising when workers
    still heartbeat. The backup is copied aside first: restoring `<name>.before-restore`
    itself (undoing a restore) would otherwise read the file the old database was just
    saved over, and lose both.
    """
    _refuse_live_files(db_file, src.absolute(), "restore from")
    info = inspect_backup(src)
    make_data_folder(db_file)
    staged = db_file.with_name(f".{db_file.name}.restoring-{os.getpid()}")
    kept: Path | None = None
    with migration_lock(db_file), _failures("restore"):
        try:
            with closing(sqlite3.connect(f"{src.absolute().as_uri()}?mode=ro", uri=True)) as conn:
                _copy(conn, staged, busy_timeout_ms)
            if db_file.exists():
                refuse_if_in_use()
                kept = _keep_replaced(db_file, busy_timeout_ms)
            with closing(sqlite3.connect(staged)) as conn:
                _copy(conn, db_file, busy_timeout_ms)
        finally:
            staged.unlink(missing_ok=True)
        with closing(sqlite3.connect(db_file, timeout=busy_timeout_ms / 1000)) as live:
            live.execute("PRAGMA journal_mode=WAL")
            _check_integrity(live, db_file)
    return info, kept


def _keep_replaced(db_file: Path, busy_timeout_ms: int) -> Path:
    """Keep the database a restore replaces as `<name>.before-restore`; return that path.

    A consistent copy where it can be read whole; a damaged one (the usual reason to restore)
    cannot, so its files are moved aside as they are, and the restore goes on.
    """
    kept = db_file.with_name(db_file.name + ".before-restore")
    try:
        backup_sqlite(db_file, kept, busy_timeout_ms)
    except (InvalidBackup, DatabaseError):
        for suffix in ("", "-wal", "-shm"):
            part = db_file.with_name(db_file.name + suffix)
            if part.exists():
                os.replace(part, kept.with_name(kept.name + suffix))
    return kept
