"""The `library_scan` job (§5): discover → diff → probe → apply → done, resumable.

The diff pass writes nothing, so the mass-missing brake and dry runs decide before any change.
The apply pass commits each batch together with the job's checkpoint (fenced), so a rescued
job resumes after its last committed batch and a fenced-out worker's batch rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mediashelf.audit.store import AuditStore
from mediashelf.clock import Clock
from mediashelf.errors import JobCancelled, LibraryOffline, LibraryUnavailable
from mediashelf.jobs.context import JobContext
from mediashelf.jobs.registry import JobOutcome
from mediashelf.library.discovery import check_root, scope_prefix, walk
from mediashelf.library.scan_apply import ApplyOptions, Batch, apply_batch
from mediashelf.library.scan_plan import Item, Verdict, find_moves, judge, merge, rows_in_order
from mediashelf.library.scan_progress import ErrorSummary, ScanCounters
from mediashelf.library.store import TrackStore
from mediashelf.probe.pool import ProbePool

PROGRESS_EVERY_S = 2.0
SAMPLE_LIMIT = 20


class ScanParams(BaseModel):
    """Parameters of a library scan."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False
    refresh_duration: bool = True
    refresh_size: bool = True
    path: str | None = Field(default=None, max_length=1000)
    dry_run: bool = False
    batch_size: int = Field(default=200, ge=1, le=5000)
    throttle_ms: int = Field(default=0, ge=0, le=60_000)
    max_probes_per_s: float | None = Field(default=None, gt=0)
    allow_mass_missing: bool = False


@dataclass(frozen=True)
class ScanDeps:
    """What the scan needs besides its job context."""

    root: Path
    pool: Callable[[], ProbePool]
    missing_brake: float


class LibraryScan:
    """One attempt of one library scan."""

    def __init__(self, ctx: JobContext, deps: ScanDeps) -> None:
        assert isinstance(ctx.params, ScanParams)
        self.ctx, self.deps, self.params = ctx, deps, ctx.params
        self.clock: Clock = ctx.clock
        self.prefix = scope_prefix(self.params.path)
        saved = ctx.checkpoint or {}
        self.counters = ScanCounters.from_dict(saved.get("counters", {}))
        self.errors = ErrorSummary(dict(saved.get("errors", {})))
        self.started = (
            datetime.fromisoformat(saved["started_at"])
            if "started_at" in saved
            else ctx.clock.now()
        )
        self.after: str | None = saved.get("after")
        self.resuming = bool(saved)
        self.would: dict[str, list[str]] = {}
        self._last_emit = 0.0
        self._attempt_start = time.monotonic()
        self._attempt_done = 0

    def run(self) -> JobOutcome:
        """Run the scan to completion, or raise JobCancelled / LibraryOffline / JobLost."""
        try:
            check_root(self.deps.root)
        except LibraryUnavailable as exc:
            raise LibraryOffline(
                f"library root looks offline: {exc.message} Nothing was changed."
            ) from exc
        work = True
        if not self.resuming:
            self._audit("start", {"params": self.params.model_dump()})
            work = self._diff()
        else:
            self.ctx.log(f"resuming after {self.after!r} with {self.counters.processed} done")
        if work and not self.params.dry_run:
            self._apply()
        self.counters.phase = "done"
        self.counters.eta_s = 0
        self._emit(force=True)
        return self._outcome()

    # -- diff: count, judge and brake, writing nothing ------------------------------------

    def _diff(self) -> bool:
        """Count and judge every file; return whether anything needs writing."""
        c = self.counters
        c.phase = "discover"
        would: dict[str, list[str]] = {"add": [], "update": [], "missing": [], "move": []}
        verdicts = dict.fromkeys(Verdict, 0)
        moved = 0
        taken: set[int] = set()
        for batch in self._batches(after=None):
            moves = find_moves(self.ctx.db, self.deps.root, _new_files(batch), taken)
            moved += len(moves)
            for item, verdict in batch:
                verdicts[verdict] += 1
                if item.file is not None:
                    c.total += 1
                key = _would_key(verdict, item, moves)
                if key and len(would[key]) < SAMPLE_LIMIT:
                    would[key].append(item.relpath)
            self._emit()
        c.phase = "diff"
        newly_missing = max(0, verdicts[Verdict.MISSING] - moved)
        self._brake(newly_missing, c.total)
        self.would = would
        self.ctx.log(
            f"diff: {c.total} files; {verdicts[Verdict.NEW] - moved} new, "
            f"{verdicts[Verdict.CHANGED]} changed, {verdicts[Verdict.UNCHANGED]} unchanged, "
            f"{moved} moved, {newly_missing} missing, {verdicts[Verdict.SKIPPED]} quarantined"
        )
        work = bool(verdicts[Verdict.NEW] or verdicts[Verdict.CHANGED] or newly_missing)
        if self.params.dry_run or not work:  # the diff's counts are the outcome
            c.processed = c.total
            c.added, c.moved, c.missing = verdicts[Verdict.NEW] - moved, moved, newly_missing
            c.updated, c.unchanged = verdicts[Verdict.CHANGED], verdicts[Verdict.UNCHANGED]
            c.skipped = verdicts[Verdict.SKIPPED]
        self._emit(force=True)
        return work

    def _brake(self, newly_missing: int, files: int) -> None:
        with self.ctx.db.unit_of_work() as session:
            tracks, already = TrackStore(session).scope_counts(self.prefix)
        present = tracks - already
        if self.params.allow_mass_missing or present == 0:
            return
        if files == 0 or newly_missing > self.deps.missing_brake * present:
            raise LibraryOffline(
                f"library root looks offline: {newly_missing} of {present} tracks would be "
                f"marked missing (brake at {self.deps.missing_brake:.0%}); nothing was changed. "
                "Check the mount, or rerun with allow_mass_missing."
            )

    # -- apply: probe and write batch by batch --------------------------------------------

    def _apply(self) -> None:
        options = ApplyOptions(self.params.refresh_duration, self.params.refresh_size, self.started)
        moved_ahead: set[int] = set()
        taken: set[int] = set()
        for items in self._batches(after=self.after):
            batch = self._plan(items, moved_ahead, taken)
            self.counters.phase = "probe"
            batch.outcomes = dict(self._probe(batch))
            self.counters.phase = "apply"
            with self.ctx.db.unit_of_work() as session:
                apply_batch(session, batch, self.counters, self.errors, options, self.clock.now())
                self.after = batch.last_relpath()
                self.ctx.commit_batch(session, self.counters.as_dict(), self._checkpoint())
            self._attempt_done += batch.files()
            self._emit()
            self._between_batches()

    def _plan(
        self, items: list[tuple[Item, Verdict]], moved_ahead: set[int], taken: set[int]
    ) -> Batch:
        moves = find_moves(self.ctx.db, self.deps.root, _new_files(items), taken)
        position = items[-1][0].relpath
        for row in moves.values():
            if row.relpath > position:
                moved_ahead.add(row.id)  # its old relpath is still ahead in the stream
        moved_ids = {row.id for row in moves.values()}
        kept = [
            (item, verdict) for item, verdict in items
            if item.row is None or item.file is not None
            or (item.row.id not in moved_ids and item.row.id not in moved_ahead)
        ]  # fmt: skip
        return Batch(kept, moves)

    def _probe(self, batch: Batch) -> Iterator[tuple[str, Any]]:
        paths = batch.to_probe(self.deps.root)
        if not paths:
            return
        pool = self.deps.pool()
        for done, (path, outcome) in enumerate(
            pool.probe_many(self._paced(paths), stop=self.ctx.should_stop), start=1
        ):
            yield path.relative_to(self.deps.root).as_posix(), outcome
            if time.monotonic() - self._last_emit >= PROGRESS_EVERY_S:
                self._emit(in_flight=done)
        self.ctx.check()

    def _paced(self, paths: list[Path]) -> Iterator[Path]:
        rate = self.params.max_probes_per_s
        start = time.monotonic()
        for index, path in enumerate(paths):
            if rate:
                delay = start + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield path

    def _between_batches(self) -> None:
        self.ctx.check()
        deadline = time.monotonic() + self.params.throttle_ms / 1000
        while time.monotonic() < deadline:
            time.sleep(min(0.05, deadline - time.monotonic()))
            self.ctx.check()

    # -- shared ---------------------------------------------------------------------------

    def _batches(self, after: str | None) -> Iterator[list[tuple[Item, Verdict]]]:
        files = walk(self.deps.root, self.params.path, warn=self._warn, after=after)
        rows = rows_in_order(self.ctx.db, self.prefix, after)
        batch: list[tuple[Item, Verdict]] = []
        count = 0
        for item in merge(files, rows):
            batch.append((item, judge(item, self.params.force)))
            count += item.file is not None
            if count >= self.params.batch_size:
                yield batch
                batch, count = [], 0
            if self.ctx.should_stop():
                self.ctx.check()
        if batch:
            yield batch

    def _warn(self, message: str) -> None:
        self.ctx.log(message, level="warning")

    def _checkpoint(self) -> dict[str, Any]:
        return {
            "after": self.after, "counters": self.counters.as_dict(),
            "errors": self.errors.as_dict(), "started_at": self.started.isoformat(),
        }  # fmt: skip

    def _emit(self, force: bool = False, in_flight: int = 0) -> None:
        now = time.monotonic()
        if not force and now - self._last_emit < PROGRESS_EVERY_S:
            return
        self._last_emit = now
        c = self.counters
        shown = ScanCounters.from_dict(c.as_dict())
        shown.processed += in_flight
        shown.pace(self._attempt_done + in_flight, now - self._attempt_start)
        c.rate, c.eta_s = shown.rate, shown.eta_s
        self.ctx.report(shown.as_dict(), line=shown.line(self.clock.now(), self.ctx.job_id))
        self.ctx.check()

    def _outcome(self) -> JobOutcome:
        elapsed = (self.clock.now() - self.started).total_seconds()
        dry_run = self.params.dry_run
        summary = self.counters.summary(elapsed, dry_run)
        result: dict[str, Any] = {**self.counters.as_dict(), "dry_run": dry_run}
        if dry_run:
            result["would"] = self.would
        self._audit("end", {"counters": self.counters.as_dict(), "summary": summary})
        errors = self.errors.as_dict()
        return JobOutcome(summary=summary, result=result, error_summary=errors or None)

    def cancelled(self) -> JobCancelled:
        """Return the cancellation to raise, with what was done before it."""
        c = self.counters
        message = (
            f"Library scan cancelled after {c.processed} of {c.total} files: {c.added} added, "
            f"{c.updated} updated, {c.missing} missing, {c.failed} failed (kept)"
        )
        self._audit("cancelled", {"counters": c.as_dict()})
        return JobCancelled(message)

    def _audit(self, phase: str, details: dict[str, Any]) -> None:
        with self.ctx.db.unit_of_work() as session:
            AuditStore(session).record(
                ts=self.clock.now(), action="library.scan", actor=f"job:{self.ctx.job_id}",
                job_id=self.ctx.job_id, details={"phase": phase, **details},
            )  # fmt: skip


def run_library_scan(ctx: JobContext, deps: ScanDeps) -> JobOutcome:
    """Job handler of `library_scan`."""
    scan = LibraryScan(ctx, deps)
    try:
        return scan.run()
    except JobCancelled as exc:
        if exc.message == JobCancelled().message:
            raise scan.cancelled() from exc
        raise


def _new_files(items: list[tuple[Item, Verdict]]) -> list[Any]:
    return [item.file for item, verdict in items if verdict is Verdict.NEW]


def _would_key(verdict: Verdict, item: Item, moves: dict[str, Any]) -> str | None:
    if verdict is Verdict.NEW:
        return "move" if item.relpath in moves else "add"
    return {Verdict.CHANGED: "update", Verdict.MISSING: "missing"}.get(verdict)
