"""The search indexes over track titles and paths, which the models cannot declare.

SQLite: an FTS5 table with the trigram tokenizer (`case_sensitive 0` folds case through
Unicode, so "ñandú" finds "Ñandú"), holding no copy of the text (`content='tracks'`) and
kept in step with `tracks` by triggers, so every writer (scan, rescan, restore, a hand-made
UPDATE) keeps it right. PostgreSQL: one pg_trgm GIN index on title and path lowered
together (`PG_HAYSTACK`, joined by chr(1), which no search holds: see `listing.spec_of`);
one index scan and one recheck per row cost 1.3 ms less per search at a million tracks than
the two indexes of revision 0004 (`lower(title)`, `lower(relpath)`), which 0005 replaces.
relpath is compared in the "C" collation, whose lower() folds ASCII only, so the index
lowers it in the database's default collation. Creating the extension needs a privilege the
service may lack: then search works without an index (slower), and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

FTS_TABLE = "tracks_fts"
TRIGGERS = ("tracks_fts_insert", "tracks_fts_delete", "tracks_fts_update")

_SQLITE_CREATE = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(title, relpath, content='tracks', "
    "content_rowid='id', tokenize='trigram case_sensitive 0')",
    f"CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, relpath) VALUES (new.id, new.title, new.relpath); "
    "END",
    f"CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, relpath) "
    "VALUES ('delete', old.id, old.title, old.relpath); END",
    f"CREATE TRIGGER tracks_fts_update AFTER UPDATE OF title, relpath ON tracks BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, relpath) "
    "VALUES ('delete', old.id, old.title, old.relpath); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, relpath) VALUES (new.id, new.title, new.relpath); "
    "END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",  # index the rows already there
)
# The expression the store's search compares: it must match the index's exactly.
PG_HAYSTACK = 'lower(title || chr(1) || (relpath COLLATE "default"))'
PG_INDEXES: Mapping[str, str] = {"ix_tracks_search_trgm": PG_HAYSTACK}
# Revision 0004's indexes, as it built them (a migration keeps building what it built).
PG_INDEXES_0004: Mapping[str, str] = {
    "ix_tracks_title_trgm": "lower(title)",
    "ix_tracks_relpath_trgm": 'lower((relpath COLLATE "default"))',
}
TRGM_INDEXES = (*PG_INDEXES, *PG_INDEXES_0004)


def create_search(conn: Connection, pg_indexes: Mapping[str, str] = PG_INDEXES) -> None:
    """Create the search index of `conn`'s dialect and fill it from the existing rows."""
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_CREATE:
            conn.execute(text(statement))
        return
    if not _pg_trgm(conn):
        log.warning(
            "search: the pg_trgm extension could not be created (it needs a privileged role: "
            "CREATE EXTENSION pg_trgm); searches work without an index, slower"
        )
        return
    create_pg_indexes(conn, pg_indexes)


def create_pg_indexes(conn: Connection, indexes: Mapping[str, str]) -> None:
    """Create pg_trgm GIN indexes {name: expression} on tracks."""
    for name, expression in indexes.items():
        index = f"CREATE INDEX IF NOT EXISTS {name} ON tracks USING gin"
        conn.execute(text(f"{index} (({expression}) gin_trgm_ops)"))


def _pg_trgm(conn: Connection) -> bool:
    """Create pg_trgm if it is missing; tell whether it is there."""
    try:
        with conn.begin_nested():  # a refusal must not abort the migration's transaction
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        log.info("search: CREATE EXTENSION pg_trgm failed: %s", exc.orig)
    return has_pg_trgm(conn)


def has_pg_trgm(conn: Connection) -> bool:
    """Tell whether the pg_trgm extension is installed in this database."""
    found = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))
    return found.first() is not None


def drop_search(conn: Connection) -> None:
    """Drop the search index (the extension stays: other databases' objects may use it)."""
    if conn.dialect.name == "sqlite":
        for trigger in TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))
        return
    for name in TRGM_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))


def is_search_object(name: str | None) -> bool:
    """Tell whether a reflected table or index is part of the search index (not a model)."""
    return name is not None and (name.startswith(FTS_TABLE) or name in TRGM_INDEXES)
