"""Per-track rescan: probe one track's file now and apply the update rules (§3, §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditStore
from mediashelf.clock import Clock
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.errors import (
    LibraryUnavailable,
    MediaFileNotFound,
    MediashelfError,
    PathOutsideLibrary,
    ProbeError,
    ProbeMissing,
    TrackNotFound,
)
from mediashelf.library.library_state import library_problem
from mediashelf.library.paths import resolve_in_library
from mediashelf.library.store import TrackStore
from mediashelf.library.tracks import get_track
from mediashelf.library.update import (
    Changes,
    Fingerprint,
    apply_failure,
    apply_success,
    facts_are_stale,
    fingerprint_changed,
    json_changes,
    media_values,
    plan_changes,
)
from mediashelf.probe.base import ProbeRunner
from mediashelf.probe.result import ProbeResult


@dataclass(frozen=True)
class RescanOptions:
    """What a rescan may overwrite besides the media fields."""

    refresh_duration: bool = False
    refresh_size: bool = False


@dataclass(frozen=True)
class RescanOutcome:
    """The track after a successful rescan and what changed."""

    track: Track
    changes: Changes

    def as_json(self) -> dict[str, Any]:
        """Return the changes as {field: [old, new]}."""
        return json_changes(self.changes)


def rescan_track(
    db: Database,
    *,
    root: Path,
    runner: ProbeRunner,
    clock: Clock,
    video_id: str,
    options: RescanOptions,
    actor: str,
) -> RescanOutcome:
    """Probe the track's file and apply the result.

    Two short units of work, none open while the probe runs: a slow or hanging file must not
    hold a database connection (thirty concurrent rescans would exhaust the pool). On errors
    nothing changes, except that a file which changed since its last probe and now fails is
    recorded as failed with its media fields cleared (update rule 2) before the ProbeError is
    raised. Raises InvalidInput, TrackNotFound, MediaFileNotFound, LibraryUnavailable (the
    whole library is away, not the file) or a ProbeError.
    """
    with db.unit_of_work() as session:
        track = get_track(session, video_id)
        track_id, relpath = track.id, track.relpath
    try:
        path, fingerprint = _locate(root, relpath)
        result = runner.probe(path)
    except (MediaFileNotFound, ProbeMissing) as error:  # not there, or gone while probed
        raise _not_there(db, root) from error
    except ProbeError as error:
        with db.unit_of_work() as session:
            _record_failure(session, track_id, error, fingerprint, clock.now(), actor)
        raise
    with db.unit_of_work() as session:
        return _record_success(session, track_id, result, fingerprint, options, clock.now(), actor)


def _reload(session: Session, track_id: int) -> Track:
    track = session.get(Track, track_id)
    if track is None:
        raise TrackNotFound()
    return track


def _record_success(
    session: Session,
    track_id: int,
    result: ProbeResult,
    fingerprint: Fingerprint,
    options: RescanOptions,
    now: datetime,
    actor: str,
) -> RescanOutcome:
    track = _reload(session, track_id)
    changes = plan_changes(
        media_values(track), result,
        refresh_duration=options.refresh_duration, refresh_size=options.refresh_size,
        authoritative=facts_are_stale(track, fingerprint),
    )  # fmt: skip
    # A kept size that is not the file's any more leaves the old fingerprint: the next scan
    # sees the change and, refreshing sizes as it does by default, corrects it. Moved on with
    # the file, every later scan called it unchanged and the stale size stood for good.
    stale_size = "size_bytes" not in changes and track.size_bytes not in (None, fingerprint.size)
    apply_success(track, result, changes, None if stale_size else fingerprint, now)
    AuditStore(session).record(
        ts=now, action="track.rescan", actor=actor, video_id=track.video_id,
        details={
            "changes": json_changes(changes), "refresh_duration": options.refresh_duration,
            "refresh_size": options.refresh_size, "prober": result.prober,
            "probe_ms": result.probe_ms,
        },
    )  # fmt: skip
    return RescanOutcome(track, changes)


def _record_failure(
    session: Session,
    track_id: int,
    error: ProbeError,
    fingerprint: Fingerprint,
    now: datetime,
    actor: str,
) -> None:
    """Record the failure of a file that changed: its facts are cleared, the diff audited.

    A file that did not change keeps its facts and record (a transient failure).
    """
    track = _reload(session, track_id)
    if not fingerprint_changed(track, fingerprint):
        return
    changes = apply_failure(track, error, fingerprint, now)
    AuditStore(session).record(
        ts=now, action="track.rescan", actor=actor, video_id=track.video_id,
        details={
            "changes": json_changes(changes), "error_class": error.error_class,
            "error": error.message,
        },
    )  # fmt: skip


def _not_there(db: Database, root: Path) -> MediashelfError:
    """Say why a track's file cannot be found: the file is gone, or the library is away.

    A dropped mount must not read as a deleted file: the user would look for the file, when
    the disk needs mounting (503, try again later, where a missing file is 404).
    """
    with db.unit_of_work() as session:
        known = TrackStore(session).present_count()
    problem = library_problem(root, max(known, 1))  # this track is known, missing or not
    return LibraryUnavailable(problem) if problem else MediaFileNotFound()


def _locate(root: Path, relpath: str) -> tuple[Path, Fingerprint]:
    try:
        path = resolve_in_library(root, relpath)
        info = path.stat()
    except (PathOutsideLibrary, OSError) as exc:
        raise MediaFileNotFound() from exc
    if not path.is_file():
        raise MediaFileNotFound()
    return path, Fingerprint(info.st_size, info.st_mtime_ns)
