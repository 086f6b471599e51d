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
from mediashelf.errors import MediaFileNotFound, PathOutsideLibrary, ProbeError
from mediashelf.library.paths import resolve_in_library
from mediashelf.library.tracks import get_track
from mediashelf.library.update import (
    Changes,
    Fingerprint,
    apply_failure,
    apply_success,
    fingerprint_changed,
    json_changes,
    media_values,
    plan_changes,
)
from mediashelf.probe.base import ProbeRunner


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
    session: Session,
    *,
    root: Path,
    runner: ProbeRunner,
    clock: Clock,
    video_id: str,
    options: RescanOptions,
    actor: str,
) -> RescanOutcome:
    """Probe the track's file and apply the result.

    On errors nothing changes, except that a file which changed since its last probe and now
    fails is recorded as failed with its media fields cleared (update rule 2) before the
    ProbeError is raised. Raises InvalidInput, TrackNotFound, MediaFileNotFound or a ProbeError.
    """
    track = get_track(session, video_id)
    path, fingerprint = _locate(root, track.relpath)
    try:
        result = runner.probe(path)
    except ProbeError as error:
        if fingerprint_changed(track, fingerprint):
            _record_failure(session, track, error, fingerprint, clock.now(), actor)
        raise
    changes = plan_changes(
        media_values(track),
        result,
        refresh_duration=options.refresh_duration,
        refresh_size=options.refresh_size,
    )
    now = clock.now()
    apply_success(track, result, changes, fingerprint, now)
    AuditStore(session).record(
        ts=now,
        action="track.rescan",
        actor=actor,
        video_id=track.video_id,
        details={
            "changes": json_changes(changes),
            "refresh_duration": options.refresh_duration,
            "refresh_size": options.refresh_size,
            "prober": result.prober,
            "probe_ms": result.probe_ms,
        },
    )
    return RescanOutcome(track, changes)


def _record_failure(
    session: Session,
    track: Track,
    error: ProbeError,
    fingerprint: Fingerprint,
    now: datetime,
    actor: str,
) -> None:
    """Clear the changed file's facts, audit the diff and commit before the error propagates.

    The caller's unit of work rolls back on the ProbeError it is about to receive, so this
    one write is committed here; the API still answers 422/504.
    """
    changes = apply_failure(track, error, fingerprint, now)
    AuditStore(session).record(
        ts=now,
        action="track.rescan",
        actor=actor,
        video_id=track.video_id,
        details={
            "changes": json_changes(changes),
            "error_class": error.error_class,
            "error": error.message,
        },
    )
    session.commit()


def _locate(root: Path, relpath: str) -> tuple[Path, Fingerprint]:
    try:
        path = resolve_in_library(root, relpath)
        info = path.stat()
    except (PathOutsideLibrary, OSError) as exc:
        raise MediaFileNotFound() from exc
    if not path.is_file():
        raise MediaFileNotFound()
    return path, Fingerprint(info.st_size, info.st_mtime_ns)
