"""Units of work: one transaction per request, CLI command or job batch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mediashelf.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine, sqlite_path
from mediashelf.db.outage import describe
from mediashelf.db.schema import use_dialect
from mediashelf.errors import DatabaseFileProblem, DatabaseUnavailable
from mediashelf.file_identity import file_identity

FILE_REPLACED = "the database file was deleted or replaced while this process had it open"
FILE_READ_ONLY = "the database file is read-only for this user"


class Database:
    """An engine and the sessions made from it."""

    def __init__(self, url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, busy_timeout_ms)
        use_dialect(self.engine.dialect.name)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._file = sqlite_path(url)
        self._opened: tuple[int, int] | None = None  # (device, inode) of the file first opened
        if self._file is not None:
            event.listen(self.engine, "connect", self._remember_file)

    def _remember_file(self, _dbapi_connection: object, _record: object) -> None:
        if self._opened is None and self._file is not None:
            self._opened = file_identity(self._file)

    @property
    def dialect(self) -> str:
        """Return "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Yield a session; commit when the block succeeds, roll back when it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> None:
        """Raise DatabaseError unless the database answers.

        A SQLite file deleted or replaced under a running process still answers on the
        connections that hold the old one, while new ones open another: that is a failure
        here, where it answered "ok" while the API flipped between the two files.
        """
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, sa_exc.TimeoutError) as exc:
            raise DatabaseUnavailable(f"The database is unavailable: {describe(exc)}.") from exc
        if self._file is not None and self._opened is not None:
            if file_identity(self._file) != self._opened:
                raise DatabaseFileProblem(FILE_REPLACED)
            if not os.access(self._file, os.W_OK):
                raise DatabaseFileProblem(FILE_READ_ONLY)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()
