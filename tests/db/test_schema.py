"""Migrations produce exactly the models' schema, on SQLite and PostgreSQL; engine settings."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from mediashelf.db.engine import normalize_url
from mediashelf.db.migrate import (
    current_revision,
    downgrade,
    file_revisions,
    head_revision,
    newest_file_revision,
    schema_diff,
    upgrade,
)
from mediashelf.db.schema import AuditEvent, Track
from mediashelf.db.search import has_pg_trgm
from mediashelf.db.session import Database
from mediashelf.errors import DatabaseError
from mediashelf.library.listing.service import spec_of
from mediashelf.library.listing.store import ListingStore
from mediashelf.library.store import TrackQuery
from mediashelf.library.tracks import list_tracks


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    with Database(db_url) as db:
        assert current_revision(db) is None
        upgrade(db, newest_file_revision())  # every migration, step by step
        assert current_revision(db) == head_revision()
        assert schema_diff(db) == []
        tables = set(inspect(db.engine).get_table_names())
    assert {"tracks", "audit_events", "alembic_version"} <= tables


def test_an_empty_database_gets_the_migrated_schema_directly(db_url: str) -> None:
    """upgrade() creates the newest schema in an empty database without running migrations."""
    with Database(db_url) as db:
        upgrade(db, newest_file_revision())
        migrated = _described(db)
    _emptied(db_url)
    with Database(db_url) as db:
        upgrade(db)
        assert current_revision(db) == head_revision()
        assert _described(db) == migrated
        upgrade(db)  # and later upgrades find it current
        assert current_revision(db) == head_revision()


def test_every_migration_reverts_to_the_schema_before_it(db_url: str) -> None:
    """Down one revision at a time from the newest, each schema equals that revision's upgrade.

    Then up again to the newest: the round trip ends where a fresh upgrade does. PostgreSQL
    extensions stay when the search index goes (other objects of the database may use them).
    """
    revisions = file_revisions()
    with Database(db_url) as db:
        upgraded: dict[str, dict[str, object]] = {}
        for revision in revisions:
            upgrade(db, revision)
            upgraded[revision] = _described(db)
        for older in reversed(revisions[:-1]):
            downgrade(db, older)
            assert current_revision(db) == older
            assert _sans_extensions(_described(db)) == _sans_extensions(upgraded[older]), older
        downgrade(db, "base")
        assert current_revision(db) is None
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(db, newest_file_revision())
        assert _described(db) == upgraded[revisions[-1]]
        assert schema_diff(db) == []


def _sans_extensions(described: dict[str, object]) -> dict[str, object]:
    objects = described["objects"]
    assert isinstance(objects, list)
    return {**described, "objects": [row for row in objects if row[0] != "extension"]}


def _emptied(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        path = Path(make_url(db_url).database or "")
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        return
    engine = create_engine(normalize_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _plain(value: object) -> str:
    """Return `value` as text that compares equal across databases (SQL clauses as SQL)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


def _described(db: Database) -> dict[str, object]:
    """Every part of the schema a reader could tell apart, by name, in a comparable form."""
    inspector = inspect(db.engine)
    tables: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        tables[table] = {
            # by name: migrations append the columns they add, the models list them by topic
            "columns": sorted((c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                              for c in inspector.get_columns(table)),
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(_plain(fk) for fk in inspector.get_foreign_keys(table)),
            "indexes": sorted(_plain(ix) for ix in inspector.get_indexes(table)),
            "unique": sorted(_plain(u) for u in inspector.get_unique_constraints(table)),
            "checks": sorted(_plain(c) for c in inspector.get_check_constraints(table)),
        }  # fmt: skip
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            rows = conn.execute(text("SELECT type, name, tbl_name FROM sqlite_master"
                                     " WHERE name NOT LIKE 'sqlite_%'"))  # fmt: skip
        else:
            rows = conn.execute(text(
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                " UNION ALL SELECT 'trigger', tgname, tgrelid::regclass::text FROM pg_trigger"
                " WHERE NOT tgisinternal"
                " UNION ALL SELECT 'extension', extname, '' FROM pg_extension"
            ))  # fmt: skip
        objects = sorted(tuple(row) for row in rows)
    return {"tables": tables, "objects": objects}


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


def test_postgresql_without_the_trigram_extension_still_migrates_and_searches(
    pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A role that may create tables in its schema but not extensions in the database (pg_trgm
    # is a trusted extension: it needs CREATE on the database, which this role lacks).
    admin = create_engine(normalize_url(pg_database), isolation_level="AUTOCOMMIT")
    role = f"noext_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}"))
    url = make_url(normalize_url(pg_database)).set(username=role)
    try:
        with Database(url.render_as_string(hide_password=False)) as db:
            with caplog.at_level(logging.WARNING, logger="mediashelf.db.search"):
                upgrade(db)
            assert "pg_trgm extension could not be created" in caplog.text
            assert current_revision(db) == head_revision()
            assert schema_diff(db) == []
            with db.engine.begin() as conn:
                assert not has_pg_trgm(conn)
                conn.execute(insert(Track), [TRACK])
            with db.unit_of_work() as session:
                found = list_tracks(session, TrackQuery(q="ñandú"))
            assert [t.title for t in found.items] == ["Ñandú – canción"]
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


NOW = datetime(2026, 1, 1, tzinfo=UTC)
TRACK = {
    "video_id": "AAAAAAAAAAA", "relpath": "Música/Ñandú – canción.flac", "title": "Ñandú – canción",
    "filetype": "flac", "probe_status": "ok", "probe_failures": 0, "added_at": NOW,
    "updated_at": NOW,
}  # fmt: skip


def test_postgresql_searches_title_and_path_through_one_trigram_index(pg_database: str) -> None:
    # Revision 0004 built two indexes; 0005 replaces them by one over both (one index scan
    # per search). The store's expression must be the index's, or the index is never used.
    with Database(pg_database) as db:
        _emptied(pg_database)
        upgrade(db, "0004")
        assert _trigram_indexes(db) == {"ix_tracks_relpath_trgm", "ix_tracks_title_trgm"}
        upgrade(db)
        assert _trigram_indexes(db) == {"ix_tracks_search_trgm"}
        with db.engine.begin() as conn:
            conn.execute(insert(Track), [TRACK])
        with db.unit_of_work() as session:
            store = ListingStore(session)
            query = select(Track.id).where(*store.conditions(spec_of(TrackQuery(q="canción"))))
            session.execute(text("SET LOCAL enable_seqscan = off"))
            sql = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN {sql}")).scalars().all()
            assert "ix_tracks_search_trgm" in "\n".join(plan)
            found = list_tracks(session, TrackQuery(q="música/ñandú"))  # path and title
            assert [t.title for t in found.items] == ["Ñandú – canción"]
            # Title and path are joined by chr(1) in the index: no search spans the two.
            assert list_tracks(session, TrackQuery(q="canción\x01música")).total == 0


def _trigram_indexes(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%trgm%'"))
        return set(rows.scalars())
