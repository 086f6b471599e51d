"""one search index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:00:00.000000

PostgreSQL: the two pg_trgm indexes of 0004 (title, path) become one over both (see
db/search.py): one index scan per search instead of two. SQLite's FTS5 index is unchanged.
A database whose role could not create pg_trgm has neither, and keeps none.
"""

from __future__ import annotations

from collections.abc import Mapping

from alembic import op
from sqlalchemy import text

from mediashelf.db.search import PG_INDEXES, PG_INDEXES_0004, create_pg_indexes, has_pg_trgm

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    _swap(PG_INDEXES_0004, PG_INDEXES)


def downgrade() -> None:
    """Revert this revision."""
    _swap(PG_INDEXES, PG_INDEXES_0004)


def _swap(old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Replace the `old` trigram indexes by the `new` ones, where pg_trgm is installed."""
    conn = op.get_bind()
    if conn.dialect.name != "postgresql" or not has_pg_trgm(conn):
        return
    for name in old:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    create_pg_indexes(conn, new)
