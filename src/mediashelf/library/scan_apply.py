"""Writing half of a library scan: apply one batch's outcomes in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mediashelf.db.schema import Track
from mediashelf.errors import ProbeError, ProbeMissing
from mediashelf.library.discovery import DiscoveredFile
from mediashelf.library.new_track import NewTrack
from mediashelf.library.scan_plan import PROBED, Item, Verdict
from mediashelf.library.scan_progress import ErrorSummary, ScanCounters
from mediashelf.library.store import TrackRow, TrackStore
from mediashelf.library.update import (
    Fingerprint,
    TrackRecord,
    apply_failure,
    apply_success,
    facts_are_stale,
    media_values,
    plan_changes,
)
from mediashelf.probe.result import ProbeResult

Outcome = ProbeResult | ProbeError


@dataclass
class Batch:
    """One batch of merged items with their verdicts, moves and probe outcomes."""

    items: list[tuple[Item, Verdict]] = field(default_factory=list)
    moves: dict[str, TrackRow] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def files(self) -> int:
        """Return how many walked files the batch holds."""
        return sum(1 for item, _ in self.items if item.file is not None)

    def to_probe(self, root: Path) -> list[Path]:
        """Return the files that need probing: new, changed, and moved-and-modified ones."""
        paths = []
        for item, verdict in self.items:
            file = item.file
            if file is None or verdict not in PROBED:
                continue
            move = self.moves.get(file.relpath)
            if move is None or _fingerprint_of(move) != (file.size, file.mtime_ns):
                paths.append(root / file.relpath)
        return paths

    def marks_missing(self) -> int:
        """Return how many present tracks writing this batch would mark missing."""
        gone = sum(
            1 for item, verdict in self.items
            if verdict is Verdict.MISSING and item.row is not None
        )  # fmt: skip
        vanished = sum(1 for outcome in self.outcomes.values() if isinstance(outcome, ProbeMissing))
        return gone + vanished

    def last_relpath(self) -> str | None:
        """Return the relpath the batch ends at (the resume point after it)."""
        return self.items[-1][0].relpath if self.items else None


@dataclass(frozen=True)
class ApplyOptions:
    """Scan params that shape writes."""

    refresh_duration: bool
    refresh_size: bool
    scan_started: datetime
    # A chunk never takes a missing mark back from its own counters: another chunk may have
    # made it (a move across chunk ranges read "missing -1"). Its parent counts the scan's
    # marks from the tracks instead.
    chunk: bool = False


@dataclass
class BatchWriter:
    """Applies one batch's verdicts and probe outcomes to the tracks, counting each file once."""

    store: TrackStore
    counters: ScanCounters
    errors: ErrorSummary
    options: ApplyOptions
    now: datetime
    notes: list[str] = field(default_factory=list)  # for the job log (id collisions)
    failed: list[str] = field(default_factory=list)  # for the job log: which file, and why
    added: list[NewTrack] = field(default_factory=list)  # inserted after the batch

    def write(self, batch: Batch) -> None:
        """Apply every item of `batch`."""
        probed = [i.row.id for i, v in batch.items if i.row is not None and v in PROBED]
        tracks = self.store.by_ids(probed + [row.id for row in batch.moves.values()])
        new_ids = [i.file.video_id for i, v in batch.items if v is Verdict.NEW and i.file]
        taken = self.store.taken_ids(new_ids)
        missing: list[tuple[int, str]] = []
        for item, verdict in batch.items:
            file = item.file
            if file is None:
                if verdict is Verdict.MISSING and item.row is not None:
                    missing.append((item.row.id, item.row.relpath))
                continue
            self.counters.processed += 1
            outcome = batch.outcomes.get(file.relpath)
            if verdict is Verdict.UNCHANGED:
                self.counters.unchanged += 1
            elif verdict is Verdict.SKIPPED:
                self.counters.skipped += 1
            elif file.relpath in batch.moves:
                self._move(tracks[batch.moves[file.relpath].id], file, outcome)
            else:
                track = tracks.get(item.row.id) if item.row is not None else None
                self.counters.reprobed += verdict is Verdict.REPROBE and outcome is not None
                self._probed(track, taken, file, outcome)
        self.notes += self.store.insert(self.added)
        self.counters.missing += self.store.mark_missing(missing, self.now)

    def _probed(
        self, track: Track | None, taken: set[str], file: DiscoveredFile, outcome: Outcome | None
    ) -> None:
        if outcome is None:  # not probed (cancelled mid-batch): leave it for the next scan
            self.counters.processed -= 1
            return
        if isinstance(outcome, ProbeMissing):  # vanished between the walk and the probe
            if track is None:
                self.counters.skipped += 1
            elif track.missing_since is None:
                self.counters.missing += self.store.mark_missing([(track.id, file.relpath)],
                                                                 self.now)  # fmt: skip
            return
        if track is not None:
            self._count(self._record(track, file, outcome, is_new=False))
            return
        new = NewTrack.for_file(file, self.now)
        note = self.store.claim_id(new, taken)
        if note:
            self.notes.append(note)
        self.added.append(new)
        self._count(self._record(new, file, outcome, is_new=True))

    def _record(
        self, track: TrackRecord, file: DiscoveredFile, outcome: Outcome, is_new: bool
    ) -> str:
        """Apply one probe outcome; return the counter the file belongs to."""
        fingerprint = Fingerprint(file.size, file.mtime_ns)
        if isinstance(outcome, ProbeError):
            apply_failure(track, outcome, fingerprint, self.now)
            self.errors.add(outcome.error_class, file.relpath)
            self.failed.append(
                f"failed {file.relpath!r} ({outcome.error_class}): {outcome.message}"
            )
            return "failed"
        before = (track.fingerprint_size, track.fingerprint_mtime_ns, track.probe_status)
        changes = plan_changes(
            media_values(track), outcome,
            refresh_duration=self.options.refresh_duration or is_new,
            refresh_size=self.options.refresh_size or is_new,
            authoritative=facts_are_stale(track, fingerprint),
        )  # fmt: skip
        apply_success(track, outcome, changes, fingerprint, self.now)
        if is_new:
            return "added"
        if changes or before != (file.size, file.mtime_ns, "ok"):
            return "updated"
        return "unchanged"

    def _count(self, name: str) -> None:
        setattr(self.counters, name, getattr(self.counters, name) + 1)

    def _move(self, track: Track, file: DiscoveredFile, outcome: Outcome | None) -> None:
        """Give a track whose file moved its new relpath; it keeps its id and history."""
        since = track.missing_since
        if since is not None and since >= self.options.scan_started and not self.options.chunk:
            self.counters.missing -= 1  # this scan marked it missing before finding it again
        track.relpath, track.title, track.filetype = file.relpath, file.title, file.filetype
        track.missing_since = None
        track.updated_at = self.now
        self.counters.moved += 1  # only: a moved file that changed too is probed, not recounted
        if outcome is not None and not isinstance(outcome, ProbeMissing):
            self._record(track, file, outcome, is_new=False)
        elif track.probe_status == "missing":
            track.probe_status = "ok" if track.probed_at is not None else "pending"


def _fingerprint_of(row: TrackRow) -> tuple[int | None, int | None]:
    return row.fingerprint_size, row.fingerprint_mtime_ns
