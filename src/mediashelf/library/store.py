"""Track SQL for scans and lookups; the list's own SQL is in library/listing/store.py."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, CursorResult, func, select, tuple_, update
from sqlalchemy.orm import Session

from mediashelf.db.chunks import ID_CHUNK, chunks
from mediashelf.db.schema import FILTER_INDEXED, SORT_INDEXED, Track
from mediashelf.library.ids import derived_id
from mediashelf.library.new_track import NewTrack

SORTABLE = SORT_INDEXED
FILTERABLE = FILTER_INDEXED


@dataclass(frozen=True)
class TrackQuery:
    """One page of the track list: search, filters, sort and paging."""

    q: str | None = None
    sort: str = "title"
    order: str = "asc"
    page: int = 1
    per_page: int = 50
    filetype: str | None = None
    resolution: str | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    probe_status: str | None = None
    missing: bool | None = None
    cursor: str | None = None  # opaque, from a previous page (or "last"); overrides `page`


class TrackRow(NamedTuple):
    """The few columns a scan compares a file against, detached from any session.

    A named tuple (attribute access in C), not a dataclass or the driver's row objects: an
    unchanged rescan judges a million of them, reading each one several times.
    """

    id: int
    relpath: str
    video_id: str
    fingerprint_size: int | None
    fingerprint_mtime_ns: int | None
    probe_status: str
    probe_error_class: str | None
    probe_failures: int
    missing: bool  # missing before this scan (missing_since is set)
    probe_version: int | None
    decode_errors: int | None


_T = Track.__table__.c  # plain columns: rows come back as tuples, with no ORM loading


ROW_COLUMNS = (
    _T.id, _T.relpath, _T.video_id, _T.fingerprint_size, _T.fingerprint_mtime_ns,
    _T.probe_status, _T.probe_error_class, _T.probe_failures,
    _T.missing_since.is_not(None).label("missing"), _T.probe_version, _T.decode_errors,
)  # fmt: skip


def _track_rows(result: Any) -> list[TrackRow]:
    return list(map(TrackRow._make, result.all()))  # fetched at once, not row by row


class TrackStore:
    """Reads and writes `tracks` inside the caller's unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, video_id: str) -> Track | None:
        """Return the track with `video_id`, if any."""
        return self.session.scalar(select(Track).where(Track.video_id == video_id))

    def _in_scope(self, prefix: str) -> list[ColumnElement[bool]]:
        if not prefix:
            return []
        return [Track.relpath >= prefix, Track.relpath < prefix[:-1] + "0"]  # "0" follows "/"

    def rows_after(self, after: str | None, prefix: str, limit: int) -> list[Any]:
        """Return the next `limit` tracks in relpath order after `after`, within `prefix`.

        Plain rows in `TrackRow`'s field order (`TrackRow._make` names one): a page whose
        files all match needs no named tuples. relpath compares by code point on both
        dialects (SQLite BINARY, PostgreSQL "C"), the order in which discovery walks.
        """
        query = select(*ROW_COLUMNS).where(*self._in_scope(prefix))
        if after is not None:
            query = query.where(Track.relpath > after)
        # Through the connection, not the ORM session: a million plain tuples, no ORM loading.
        result = self.session.connection().execute(query.order_by(Track.relpath).limit(limit))
        return list(result.all())  # fetched at once: iterating a result fetches row by row

    def scope_counts(self, prefix: str) -> tuple[int, int]:
        """Return (tracks, tracks already missing) within `prefix`."""
        row = self.session.execute(
            select(func.count(), func.count(Track.missing_since)).where(*self._in_scope(prefix))
        ).one()
        return int(row[0]), int(row[1])

    def present_count(self) -> int:
        """Return how many tracks are not missing."""
        return int(self.session.scalar(select(func.count()).where(Track.missing_since.is_(None)))
                   or 0)  # fmt: skip

    def missing_since_count(self, prefix: str, since: datetime) -> int:
        """Return how many tracks within `prefix` were marked missing at or after `since`."""
        return int(
            self.session.scalar(
                select(func.count()).where(*self._in_scope(prefix), Track.missing_since >= since)
            )
            or 0
        )

    def move_candidates(
        self, video_ids: Sequence[str], fingerprints: Sequence[tuple[int, int]]
    ) -> list[TrackRow]:
        """Return tracks that share a video id or a (size, mtime) fingerprint with new files."""
        found: dict[int, TrackRow] = {}
        for part in chunks(video_ids):
            rows = self.session.execute(select(*ROW_COLUMNS).where(Track.video_id.in_(part)))
            found |= {row.id: row for row in _track_rows(rows)}
        for pairs_part in chunks(fingerprints, ID_CHUNK // 2):
            pairs = tuple_(Track.fingerprint_size, Track.fingerprint_mtime_ns).in_(pairs_part)
            rows = self.session.execute(select(*ROW_COLUMNS).where(pairs))
            found |= {row.id: row for row in _track_rows(rows)}
        return list(found.values())

    def by_ids(self, ids: Sequence[int]) -> dict[int, Track]:
        """Return the tracks with `ids`, keyed by id."""
        found: dict[int, Track] = {}
        for part in chunks(ids):
            found |= {
                t.id: t for t in self.session.scalars(select(Track).where(Track.id.in_(part)))
            }
        return found

    def mark_missing(self, rows: Sequence[tuple[int, str]], now: datetime) -> int:
        """Mark tracks missing (their facts stay); return how many were marked.

        Each row is (id, relpath as judged): a track that moved meanwhile (another scan chunk
        gave it a new path) is left alone.
        """
        marked = 0
        for part in chunks(rows, ID_CHUNK // 2):
            result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
                update(Track)
                .where(tuple_(Track.id, Track.relpath).in_(part))
                .values(probe_status="missing", missing_since=now, updated_at=now)
            )
            marked += result.rowcount
        return marked

    def taken_ids(self, ids: Sequence[str]) -> set[str]:
        """Return which of `ids` already name a track."""
        found: set[str] = set()
        for part in chunks(ids):
            found |= set(
                self.session.scalars(select(Track.video_id).where(Track.video_id.in_(part)))
            )
        return found

    def claim_id(self, track: NewTrack, taken: set[str]) -> str | None:
        """Give a new track a free id, resolving a collision; return a note when it had to change.

        `taken` comes from one `taken_ids` call per batch (the wanted ids) and is updated
        here, so a batch of inserts costs one lookup. A wanted id that is taken falls back to
        the id derived from the relpath, then to derivations of "relpath#1", "relpath#2"…,
        each checked: the later file yields, deterministically.
        """
        wanted = track.video_id
        candidate, n = wanted, 0
        while candidate in taken or (candidate != wanted and self._id_exists(candidate)):
            candidate = derived_id(track.relpath if n == 0 else f"{track.relpath}#{n}")
            n += 1
        track.video_id = candidate
        taken.add(candidate)
        if candidate == wanted:
            return None
        return f"id {wanted} is taken; {track.relpath!r} got id {candidate}"

    def insert(self, tracks: Sequence[NewTrack]) -> list[str]:
        """Insert new tracks with one executemany, in `video_id` order.

        A scan's new rows need no identity map nor their ids back: written as plain rows, 232
        of them take 32 ms instead of the ORM flush's 57, half of it the search index's
        trigger (measured).

        A fanned-out scan's chunks write at once, and two may each find one `[ID]` free: the
        row whose id another writer committed meanwhile is skipped (ON CONFLICT DO NOTHING;
        PostgreSQL waits for that writer's commit to decide), then given its fallback id as
        `claim_id` gives one. Returns a note for each such track. A unique violation used to
        fail the batch and cost the chunk an attempt. Every writer takes the ids in the same
        order: two chunks holding the same ids in opposite orders deadlocked (PostgreSQL
        40P01, one batch thrown away and written again).
        """
        notes: list[str] = []
        pending = sorted(tracks, key=lambda track: track.video_id)
        while pending:
            values = [vars(track) for track in pending]
            written = set(self.session.scalars(self._insert_new(), values))
            pending = [track for track in pending if track.video_id not in written]
            taken = {track.video_id for track in pending}
            notes += [note for track in pending if (note := self.claim_id(track, taken))]
            pending.sort(key=lambda track: track.video_id)
        return notes

    def _insert_new(self) -> Any:
        """INSERT … ON CONFLICT (video_id) DO NOTHING RETURNING video_id, in this dialect.

        On the table, not the mapped class: the ORM's bulk insert groups rows by the columns
        they leave NULL and sent one statement per run of alike rows (162 for a first scan's
        243 files, 70 ms of its 250 ms job); a Core executemany sends every row in one. Each
        dialect's module is imported when used: a SQLite scan loads no PostgreSQL code.
        """
        name = self.session.get_bind().dialect.name
        dialect = importlib.import_module(f"sqlalchemy.dialects.{name}")
        stmt = dialect.insert(Track.__table__).on_conflict_do_nothing(index_elements=[_T.video_id])
        return stmt.returning(_T.video_id)

    def _id_exists(self, video_id: str) -> bool:
        return self.session.scalar(select(Track.id).where(Track.video_id == video_id)) is not None
