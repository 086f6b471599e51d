"""Reading a SQLite file before the database layer loads: does it hold tracks yet?"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from mediashelf.db.migrate import upgrade
from mediashelf.db.peek import sqlite_has_tracks
from mediashelf.db.schema import Track
from mediashelf.db.session import Database

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_missing_file_or_table_and_an_empty_table_hold_no_tracks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert sqlite_has_tracks(url) is False
    assert not (tmp_path / "new.db").exists()  # asking created nothing
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    assert sqlite_has_tracks(f"sqlite:///{tmp_path / 'other.db'}") is False
    with Database(url) as db:
        upgrade(db)
    assert sqlite_has_tracks(url) is False


def test_a_database_with_a_track_holds_tracks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'full.db'}"
    with Database(url) as db:
        upgrade(db)
        with db.engine.begin() as conn:
            conn.execute(insert(Track), [{"video_id": "AAAAAAAAAAA", "relpath": "a.flac",
                                          "title": "a", "filetype": "flac", "added_at": NOW,
                                          "updated_at": NOW}])  # fmt: skip
    assert sqlite_has_tracks(url) is True


def test_what_cannot_be_read_is_unknown(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    assert sqlite_has_tracks(f"sqlite:///{junk}") is None
    assert sqlite_has_tracks("sqlite:///:memory:") is None
    assert sqlite_has_tracks("sqlite://") is None
    assert sqlite_has_tracks("postgresql://user@host/db") is None
