"""Reading tracks: one track by id, a filtered page of them, a track's audit history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditFilter, AuditStore
from mediashelf.db.schema import AuditEvent, Track
from mediashelf.errors import InvalidInput, MediaFileNotFound, PathOutsideLibrary, TrackNotFound
from mediashelf.library import listing
from mediashelf.library.ids import is_valid_video_id
from mediashelf.library.listing import TrackListing
from mediashelf.library.paths import resolve_in_library
from mediashelf.library.store import TrackQuery, TrackStore


def get_track(session: Session, video_id: str) -> Track:
    """Return the track with `video_id`, or raise InvalidInput / TrackNotFound."""
    if not is_valid_video_id(video_id):
        raise InvalidInput("malformed video id")
    track = TrackStore(session).get(video_id)
    if track is None:
        raise TrackNotFound()
    return track


def media_file(session: Session, root: Path, video_id: str) -> tuple[Path, str]:
    """Return the track's file (checked to stay in the library) and its type, or raise."""
    track = get_track(session, video_id)
    try:
        path = resolve_in_library(root, track.relpath)
    except PathOutsideLibrary as exc:
        raise MediaFileNotFound() from exc
    if not path.is_file():
        raise MediaFileNotFound()
    return path, track.filetype


def list_tracks(session: Session, query: TrackQuery) -> TrackListing:
    """Return one page of tracks matching `query`, the total and the cursors around it."""
    return listing.list_page(session, query)


def track_audit(
    session: Session, video_id: str, limit: int = 50, offset: int = 0
) -> tuple[Sequence[AuditEvent], int]:
    """Return the audit history of one track, newest first."""
    track = get_track(session, video_id)
    return AuditStore(session).page(
        AuditFilter(video_id=track.video_id, limit=limit, offset=offset)
    )


def track_facets(session: Session) -> dict[str, list[tuple[str, int]]]:
    """Return the most common values of each filterable facet with their counts."""
    return listing.facets(session)


def track_status_counts(session: Session) -> dict[str, int]:
    """Return how many tracks have each probe status."""
    return listing.status_counts(session)


def list_audit(session: Session, flt: AuditFilter) -> tuple[Sequence[AuditEvent], int]:
    """Return a page of audit events."""
    return AuditStore(session).page(flt)
