"""Engines tuned per dialect: SQLite with WAL, foreign keys, busy timeout; PostgreSQL pooled."""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from mediashelf.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL, None for other databases or in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def make_engine(url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """Create the engine for `url`, creating a SQLite file's folder when needed.

    `busy_timeout_ms` is how long SQLite waits for another process's write lock before a
    statement fails as "database is locked" (the worker then retries it with backoff).
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            make_data_folder(Path(parsed.database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        )
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
        event.listen(engine, "savepoint", _begin_before_savepoint)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def make_data_folder(db_file: Path) -> None:
    """Create the folder of a SQLite file; one that cannot be made is a setting error.

    A data folder that is a file, or on read-only storage, ended `db upgrade` and `db
    restore` in a traceback, where every other command names the folder (exit 2).
    """
    try:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot use the data folder: {exc.strerror} ({exc.filename}).") from exc


def _begin_before_savepoint(conn: Connection, _name: str) -> None:
    """Open the SQLite transaction before a SAVEPOINT that would otherwise open it.

    Python's sqlite3 begins a transaction only before INSERT, UPDATE or DELETE. A SAVEPOINT
    taken before any of them opens the transaction itself, and releasing it COMMITS: a job
    enqueued that way (enqueue guards its INSERT with a savepoint) was visible to other
    workers, and claimed, before the rest of its unit of work had run or could roll it back.
    """
    open_sqlite_transaction(conn)


def open_sqlite_transaction(conn: Connection) -> None:
    """Open the SQLite transaction of `conn` now, if its driver has not yet.

    A deferred BEGIN takes no lock before the first write, as the driver's own BEGIN does;
    the reads after it see one state of the database (WAL: the first read fixes it), where
    reads outside a transaction each see the latest commit.
    """
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    _use_wal(cursor, busy_timeout_ms / 1000)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(cursor: Any, patience_s: float) -> None:
    """Switch the database to WAL, waiting out another connection doing the same.

    The first connections to a new file all switch it; SQLite answers the loser of that race
    "database is locked" at once, without calling the busy handler (a service and a worker
    started together, two `db upgrade` at once). Retried for as long as a write would wait.
    """
    deadline = time.monotonic() + patience_s
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
