"""track list indexes and search

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 08:55:00.000000

One (column, id) index per sortable column, so that the keyset pages of the track list read
an index in either direction; (filter, title, id) for the filterable columns in the default
order (they replace the single-column indexes and the title index, which they cover); the
search index of the dialect (db/search.py), filled from the rows already there.
"""

from __future__ import annotations

from alembic import op

from mediashelf.db.search import PG_INDEXES_0004, create_search, drop_search

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Copies of db/schema.py SORT_INDEXED / FILTER_INDEXED as they were at this revision: a
# migration must keep building the same indexes when the models change later.
SORTED = (
    "title", "relpath", "filetype", "duration", "size_bytes", "bitrate", "resolution",
    "width", "height", "video_codec", "video_fps", "audio_codec", "audio_channels",
    "audio_sample_rate", "audio_bit_depth", "probe_status", "probed_at", "added_at", "updated_at",
)  # fmt: skip
FILTERED = ("filetype", "resolution", "video_codec", "audio_codec", "probe_status")
REPLACED = (
    "ix_tracks_title", "ix_tracks_filetype", "ix_tracks_resolution", "ix_tracks_video_codec",
    "ix_tracks_audio_codec", "ix_tracks_probe_status",
)  # fmt: skip


def upgrade() -> None:
    """Apply this revision."""
    for name in REPLACED:
        op.drop_index(name, table_name="tracks")
    for name in SORTED:
        op.create_index(f"ix_tracks_sort_{name}", "tracks", [name, "id"])
    for name in FILTERED:
        op.create_index(f"ix_tracks_{name}_title", "tracks", [name, "title", "id"])
    create_search(op.get_bind(), PG_INDEXES_0004)


def downgrade() -> None:
    """Revert this revision."""
    drop_search(op.get_bind())
    for name in reversed(FILTERED):
        op.drop_index(f"ix_tracks_{name}_title", table_name="tracks")
    for name in reversed(SORTED):
        op.drop_index(f"ix_tracks_sort_{name}", table_name="tracks")
    op.create_index("ix_tracks_title", "tracks", ["title"])
    for name in REPLACED[1:]:
        op.create_index(name, "tracks", [name.removeprefix("ix_tracks_")])
