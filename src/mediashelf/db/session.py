"""Units of work: one transaction per request, CLI command or job batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mediashelf.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine
from mediashelf.db.outage import describe
from mediashelf.db.schema import use_dialect
from mediashelf.errors import DatabaseUnavailable


class Database:
    """An engine and the sessions made from it."""

    def __init__(self, url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, busy_timeout_ms)
        use_dialect(self.engine.dialect.name)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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
        """Raise DatabaseError unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, sa_exc.TimeoutError) as exc:
            raise DatabaseUnavailable(f"The database is unavailable: {describe(exc)}.") from exc

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()
