"""Answers read from a SQLite file with the standard library, before the database layer loads.

Importing SQLAlchemy and the models takes a starting `mediashelf scan` a few tenths of a
second; what it decides before then (whether to start probing ahead) must not wait for them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def sqlite_has_tracks(url: str) -> bool | None:
    """Tell whether the SQLite database at `url` holds a track; None when that is unknown.

    Unknown: not a SQLite file URL, an in-memory database, or a file that cannot be read
    (locked, corrupt, not a database). A missing file or a missing table holds no track.
    """
    if not url.startswith(SQLITE_PREFIX):
        return None
    database = url.removeprefix(SQLITE_PREFIX).split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    path = Path(database)
    if not path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               ("tracks",)).fetchone()  # fmt: skip
            return (
                table is not None
                and db.execute("SELECT 1 FROM tracks LIMIT 1").fetchone() is not None
            )
    except sqlite3.Error:
        return None
