"""The problems view's services: list failing tracks by class, retry them, lift quarantines.

A retry is a job the user can watch in /jobs: a library scan that probes the chosen tracks
again as if forced (scoped to the track's folder, or to the folder asked for), or a
verification for tracks whose decode found errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditStore
from mediashelf.clock import Clock
from mediashelf.db.schema import Track
from mediashelf.errors import InvalidInput, LibraryUnavailable, StateRefused, TrackNotFound
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.service import JobRequest, request_job
from mediashelf.library.discovery import check_root, is_own_folder, scope_prefix
from mediashelf.library.kinds import LIBRARY_VERIFY
from mediashelf.library.problems.classes import PROBLEM_CLASSES, problem_class
from mediashelf.library.problems.store import ProblemFilter, ProblemStore
from mediashelf.library.scan_request import normalize_scope, request_scan
from mediashelf.library.store import TrackStore
from mediashelf.library.tracks import get_track

DECODE_ERRORS = "decode_errors"


@dataclass(frozen=True)
class Problem:
    """One failing track as the problems view shows it."""

    track: Track
    problem_class: str

    @property
    def message(self) -> str | None:
        """Return what went wrong, in words."""
        t = self.track
        if self.problem_class == "missing":
            return "The file is gone from the library."
        if self.problem_class == DECODE_ERRORS:
            where = f" at {t.decode_error_at_s:.1f}s" if t.decode_error_at_s is not None else ""
            return f"{t.decode_errors} decode errors; first{where}: {t.decode_error}"
        return t.probe_error

    @property
    def first_seen(self) -> datetime | None:
        """Return when the problem was first seen."""
        t = self.track
        if self.problem_class == "missing":
            return t.missing_since
        if self.problem_class == DECODE_ERRORS:
            return t.verified_at
        return t.failing_since or t.probed_at

    @property
    def last_tried(self) -> datetime | None:
        """Return when the file was last probed or verified."""
        return (
            self.track.verified_at if self.problem_class == DECODE_ERRORS else self.track.probed_at
        )


@dataclass(frozen=True)
class ProblemPage:
    """Counts per class (in the folder asked for) and one page of problems."""

    counts: dict[str, int]
    items: list[Problem]
    total: int


def list_problems(
    session: Session, problem_class: str | None, path: str | None, limit: int, offset: int
) -> ProblemPage:
    """Return the problem counts and one page of failing tracks, by relpath."""
    _check_class(problem_class)
    prefix = scope_prefix(_scope(path))
    store = ProblemStore(session)
    rows, total = store.page(ProblemFilter(problem_class, prefix, limit, offset))
    counts = store.counts(prefix)
    return ProblemPage(counts, [Problem(track, klass) for track, klass in rows], total)


def release_track(session: Session, clock: Clock, video_id: str, actor: str) -> Track:
    """Lift a track's quarantine so the next scan probes it again; raise StateRefused if none."""
    track = get_track(session, video_id)
    if _class_of(track) != "quarantined":
        raise StateRefused("The track is not quarantined.")
    failures = track.probe_failures  # the update below also refreshes the loaded row
    ProblemStore(session).release(track.id)
    AuditStore(session).record(
        ts=clock.now(), action="track.release", actor=actor, video_id=track.video_id,
        details={"probe_failures": [failures, 0]},
    )  # fmt: skip
    session.expire(track)
    return get_track(session, video_id)


def retry_track(
    session: Session,
    registry: Registry,
    clock: Clock,
    video_id: str,
    *,
    trigger: str,
    actor: str,
    root: Path | None = None,
) -> JobRequest:
    """Enqueue the job that looks at one failing track again (its folder, the track forced).

    With the library `root`, a folder that is gone (a missing track's whole album deleted)
    is scoped to its nearest folder still there: the retry was refused as a request for
    "no folder" the user never named.
    """
    track = get_track(session, video_id)
    scope = _existing_folder(root, PurePosixPath(track.relpath).parent)
    if _class_of(track) == DECODE_ERRORS:
        params: dict[str, object] = {"path": scope, "video_ids": [video_id]}
        return request_job(session, registry, clock, LIBRARY_VERIFY, params, trigger=trigger,
                           actor=actor)  # fmt: skip
    params = {"path": scope, "reprobe_ids": [video_id]}
    return request_scan(session, registry, clock, params, trigger=trigger, actor=actor)


def _existing_folder(root: Path | None, folder: PurePosixPath) -> str | None:
    """Return `folder`, or its nearest ancestor that is a folder of the library (None: the
    root); `folder` itself when the root is offline or unknown (the job waits for it)."""
    try:
        real_root = check_root(root) if root is not None else None
    except LibraryUnavailable:
        real_root = None
    while str(folder) != "." and real_root is not None and not is_own_folder(real_root / folder):
        folder = folder.parent
    return None if str(folder) == "." else str(folder)


def request_verify(
    session: Session,
    registry: Registry,
    clock: Clock,
    params: dict[str, object],
    *,
    trigger: str,
    actor: str,
) -> JobRequest:
    """Enqueue a verification; ids that name no track are a 404, as for a retry of one."""
    wanted = params.get("video_ids")
    if isinstance(wanted, list) and wanted:
        ids = [str(video_id) for video_id in wanted]
        unknown = sorted(set(ids) - TrackStore(session).taken_ids(ids))
        if unknown:
            shown = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
            raise TrackNotFound(f"track not found: {shown}")
    return request_job(session, registry, clock, LIBRARY_VERIFY, params, trigger=trigger,
                       actor=actor)  # fmt: skip


def retry_class(
    session: Session,
    registry: Registry,
    clock: Clock,
    problem_class: str,
    path: str | None,
    *,
    trigger: str,
    actor: str,
) -> JobRequest:
    """Enqueue the job that looks at every track of one problem class again."""
    _check_class(problem_class)
    scope = _scope(path)
    if problem_class == DECODE_ERRORS:
        params: dict[str, object] = {"path": scope, "problems_only": True}
        return request_job(session, registry, clock, LIBRARY_VERIFY, params, trigger=trigger,
                           actor=actor)  # fmt: skip
    params = {"path": scope, "reprobe_class": problem_class}
    return request_scan(session, registry, clock, params, trigger=trigger, actor=actor)


def _class_of(track: Track) -> str | None:
    return problem_class(
        track.probe_status, track.probe_error_class, track.probe_failures, track.decode_errors
    )


def _check_class(problem_class: str | None) -> None:
    if problem_class is not None and problem_class not in PROBLEM_CLASSES:
        raise InvalidInput(f"unknown problem class {problem_class!r}; one of {PROBLEM_CLASSES}")


def _scope(path: str | None) -> str | None:
    try:
        return normalize_scope(path)
    except ValueError as exc:
        raise InvalidInput(f"path {exc}") from exc
