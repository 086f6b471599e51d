"""Migrations produce exactly the models' schema, on SQLite and PostgreSQL; engine settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import StatementError

from mediashelf.db.migrate import current_revision, head_revision, schema_diff, upgrade
from mediashelf.db.schema import AuditEvent
from mediashelf.db.session import Database
from mediashelf.errors import DatabaseError


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    with Database(db_url) as db:
        assert current_revision(db) is None
        upgrade(db)
        assert current_revision(db) == head_revision()
        assert schema_diff(db) == []
        tables = set(inspect(db.engine).get_table_names())
    assert {"tracks", "audit_events", "alembic_version"} <= tables


def test_upgrade_is_idempotent(database: Database) -> None:
    upgrade(database)
    assert current_revision(database) == head_revision()


def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    with Database(f"sqlite:///{tmp_path / 'sub' / 'x.db'}") as db, db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
        # SQLite's own lower() (ASCII only): no Python function runs inside SQL; search folds
        # case in its FTS5 index instead.
        assert conn.execute(text("SELECT lower('ÑANDÚ')")).scalar() == "ÑandÚ"


def test_timestamps_come_back_as_aware_utc(database: Database) -> None:
    local = datetime(2026, 11, 24, 7, 0, tzinfo=timezone(timedelta(hours=2)))
    with database.unit_of_work() as session:
        session.add(AuditEvent(ts=local, action="x", actor="cli", details={"a": [1, None]}))
    with database.unit_of_work() as session:
        event = session.query(AuditEvent).one()
    assert event.ts == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert event.ts.tzinfo is not None
    assert event.details == {"a": [1, None]}


def test_naive_timestamps_are_refused(database: Database) -> None:
    naive = AuditEvent(ts=datetime(2026, 1, 1), action="x", actor="cli", details={})
    with database.unit_of_work() as session:
        session.add(naive)
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()
        session.rollback()


def test_unreachable_database_is_a_typed_error() -> None:
    with Database("postgresql://nobody@127.0.0.1:1/none") as db, pytest.raises(DatabaseError):
        db.ping()


def test_the_quick_revision_check_agrees_with_alembic() -> None:
    from mediashelf.db.migrate import head_revision, newest_file_revision

    assert newest_file_revision() == head_revision()
