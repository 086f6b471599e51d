"""First indexing of a library: add new files as pending tracks, then probe the pending ones.

This is the simple path `serve` runs at start-up so a fresh library is browsable at once.
Each batch is its own unit of work, and probing happens outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

from mediashelf.clock import Clock
from mediashelf.db.schema import Track
from mediashelf.db.session import Database
from mediashelf.errors import PathOutsideLibrary, ProbeError, ProbeMissing
from mediashelf.library.discovery import Warn, walk
from mediashelf.library.paths import resolve_in_library
from mediashelf.library.store import TrackStore
from mediashelf.library.update import (
    Fingerprint,
    apply_failure,
    apply_success,
    media_values,
    plan_changes,
)
from mediashelf.probe.pool import ProbePool
from mediashelf.probe.result import ProbeResult

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class SyncReport:
    """What one sync did."""

    added: int
    probed: int
    failed: int


def sync_library(
    db: Database, root: Path, pool: ProbePool, clock: Clock, warn: Warn | None = None
) -> SyncReport:
    """Discover new files under `root`, then probe every pending track."""
    added = discover_new(db, root, clock, warn=warn)
    probed, failed = probe_pending(db, root, pool, clock)
    return SyncReport(added=added, probed=probed, failed=failed)


def discover_new(
    db: Database, root: Path, clock: Clock, batch_size: int = 500, warn: Warn | None = None
) -> int:
    """Add a pending track for every media file under `root` not yet known; return how many."""
    added = 0
    for batch in batched(walk(root, warn=warn), batch_size):
        with db.unit_of_work() as session:
            added += len(TrackStore(session).add_discovered(batch, clock.now()))
    return added


def probe_pending(
    db: Database, root: Path, pool: ProbePool, clock: Clock, batch_size: int = 200
) -> tuple[int, int]:
    """Probe pending tracks batch by batch; return (succeeded, failed)."""
    ok = failed = 0
    after = 0
    while True:
        with db.unit_of_work() as session:
            batch = [(t.id, t.relpath) for t in TrackStore(session).pending(batch_size, after)]
        if not batch:
            return ok, failed
        after = batch[-1][0]
        targets = [(track_id, _path_or_none(root, relpath)) for track_id, relpath in batch]
        probed = iter(list(pool.probe_many([p for _, p in targets if p is not None])))
        with db.unit_of_work() as session:
            for track_id, path in targets:
                outcome = next(probed)[1] if path is not None else ProbeMissing()
                track = session.get(Track, track_id)
                if track is None:
                    continue
                if _record(track, path, outcome, clock):
                    ok += 1
                else:
                    failed += 1


def _path_or_none(root: Path, relpath: str) -> Path | None:
    try:
        return resolve_in_library(root, relpath)
    except PathOutsideLibrary:
        return None


def _record(
    track: Track, path: Path | None, outcome: ProbeResult | ProbeError, clock: Clock
) -> bool:
    now = clock.now()
    if isinstance(outcome, ProbeMissing):
        track.probe_status = "missing"
        track.missing_since = track.missing_since or now
        track.updated_at = now
        return False
    fingerprint = _fingerprint(path) if path is not None else None
    if isinstance(outcome, ProbeError):
        apply_failure(track, outcome, fingerprint, now)
        log.info("Probe failed for %s: %s", track.relpath, outcome.message)
        return False
    changes = plan_changes(
        media_values(track),
        outcome,
        refresh_duration=True,
        refresh_size=True,
    )
    apply_success(track, outcome, changes, fingerprint, now)
    return True


def _fingerprint(path: Path) -> Fingerprint | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return Fingerprint(info.st_size, info.st_mtime_ns)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of up to `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
