"""The `library_scan` job (§5): discover → diff → probe → apply → done, resumable.

The diff pass writes nothing, so the mass-missing brake and dry runs decide before any change.
The apply pass commits each batch together with the job's checkpoint (fenced), so a rescued
job resumes after its last committed batch and a fenced-out worker's batch rolls back.
A library that is offline (root gone, or an empty mount point) is waited for, at the start
and before any batch that would mark files missing; nothing is marked while it is away.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditStore
from mediashelf.errors import JobCancelled, LibraryNotFound, LibraryOffline, LibraryUnavailable
from mediashelf.jobs.context import JobContext
from mediashelf.jobs.pacing import LINE_AFTER_S, WAIT_SLICE_S, Pacer
from mediashelf.jobs.registry import JobOutcome
from mediashelf.library.discovery import MEDIA_EXTENSIONS, Skip, scope_prefix, walk
from mediashelf.library.library_state import (
    RootIdentity,
    library_problem,
    root_changed,
    root_identity,
)
from mediashelf.library.scan_apply import ApplyOptions, Batch, BatchWriter
from mediashelf.library.scan_plan import (
    WRITES,
    Chunk,
    DiffTally,
    Item,
    Run,
    Verdict,
    find_moves,
    judge,
    merge,
    quick_runs,
    row_pages,
    row_problem,
    rows_in_order,
    under_any,
)
from mediashelf.library.scan_progress import ErrorSummary, ScanCounters
from mediashelf.library.scan_request import ScanParams
from mediashelf.library.store import TrackRow, TrackStore
from mediashelf.probe.pool import ProbePool

MAX_ITEMS_PER_BATCH = 5000  # unchanged files write nothing, but the checkpoint should move on
LINES_OF_A_KIND = 50  # skipped or failed files named in the job log, per attempt


@dataclass(frozen=True)
class ScanDeps:
    """What the scan needs besides its job context."""

    root: Path
    pool: Callable[[], ProbePool]
    missing_brake: float
    library_wait_s: float = 120.0
    extensions: frozenset[str] | None = None
    chunk_writes: int = 0  # fan a large scan out into chunk jobs of about this many writes


@dataclass(frozen=True)
class ChunkRange:
    """The part of a fanned-out scan one `library_scan_chunk` job applies."""

    params: ScanParams
    after: str | None
    until: str | None
    started_at: datetime
    plan: dict[str, int]
    files: int


FanOut = Callable[["LibraryScan", list[Chunk]], NoReturn]


class LibraryWentAway(Exception):
    """The library went offline during the scan; nothing of the current batch was written."""


@dataclass
class Saved:
    """What the last committed batch left behind: where to resume and the counts so far."""

    after: str | None
    counters: ScanCounters
    errors: ErrorSummary
    plan: dict[str, int] = field(default_factory=dict)  # present / missing from the diff


class LibraryScan:
    """One attempt of one library scan."""

    def __init__(self, ctx: JobContext, deps: ScanDeps, chunk: ChunkRange | None = None) -> None:
        params = chunk.params if chunk is not None else ctx.params
        assert isinstance(params, ScanParams)
        self.ctx, self.deps, self.params = ctx, deps, params
        self.prefix = scope_prefix(self.params.path)
        self.until = chunk.until if chunk is not None else None
        self.in_chunk = chunk is not None
        saved = ctx.checkpoint or {}
        self.saved = Saved(
            saved.get("after", chunk.after if chunk else None),
            ScanCounters.from_dict(saved.get("counters", {})),
            ErrorSummary.from_dict(saved.get("errors", {})),
            dict(saved.get("plan", chunk.plan if chunk else {})),
        )  # fmt: skip
        self.counters, self.errors = self.saved.counters.copy(), self.saved.errors.copy()
        if chunk is not None and not saved:
            self.counters.total = chunk.files
        started = saved.get("started_at")
        self.started = (
            datetime.fromisoformat(started) if started
            else chunk.started_at if chunk else ctx.clock.now()
        )  # fmt: skip
        self.resuming = bool(saved) or chunk is not None
        self.would: dict[str, list[str]] = {}
        self._last_emit = 0.0
        self._phase_start = time.monotonic()
        self._checked = 0  # files checked in the current phase, for the rate
        self._skips_log = CappedLog(ctx, LINES_OF_A_KIND, "skipped files")
        self._failures_log = CappedLog(ctx, LINES_OF_A_KIND, "failed files")
        # Skips the walk met ahead of what is written: counted when a batch at or past them
        # is saved, so a resumed walk that meets them again does not count them twice.
        self._pending_skips: list[Skip] = []
        self._unreadable: list[str] = []  # what the current walk could not read, so far
        self._chosen = chosen_for_reprobe(self.params)
        # One pacer for the whole attempt: the rate holds across batches, whatever their size.
        self._pacer = Pacer(ctx.sleep, self.params.max_probes_per_s, on_wait=self._emit_paced)
        self._submitting: list[tuple[Path, Future[Any]]] = []  # the batch being handed out
        self._root_seen: RootIdentity | None = None  # the root's folder once the attempt saw it

    def run(self, fan_out: FanOut | None = None) -> JobOutcome:
        """Run the scan to completion, or raise JobCancelled / LibraryOffline / JobLost.

        With `fan_out`, a diff that finds more than one chunk of work hands the apply phase
        to chunk jobs (`fan_out` raises AwaitChildren and never returns).
        """
        self._root_seen = self._planned_root()  # a resumed attempt: the folder the diff saw
        self._await_library(fresh=not self.resuming)
        if self._root_seen is None:
            self._root_seen = root_identity(self.deps.root)
        work = True
        if not self.resuming:
            self._audit("start", {"params": self.params.model_dump()})
            work, chunks = self._diff(chunk_writes=self.deps.chunk_writes if fan_out else 0)
            if work and fan_out is not None and len(chunks) > 1 and not self.params.dry_run:
                fan_out(self, chunks)
        else:
            self.ctx.log(f"resuming after {self.saved.after!r} with {self.counters.processed} done")
        if work and not self.params.dry_run:
            self._apply()
            self._settle_total()
        self._set_phase("done", keep_rate=True)
        self.counters.eta_s = 0
        self._emit(force=True)
        return self._outcome()

    def run_chunk(self) -> JobOutcome:
        """Apply one chunk of a fanned-out scan (the parent did discovery and the diff)."""
        self._await_library()
        self._root_seen = root_identity(self.deps.root)
        self.ctx.log(f"chunk after {self.saved.after!r} until {self.until!r}")
        self._apply()
        self._settle_total()
        self._set_phase("done", keep_rate=True)
        self.counters.eta_s = 0
        self._emit(force=True)
        elapsed = (self.ctx.clock.now() - self.started).total_seconds()
        summary = self.counters.summary(elapsed, dry_run=False).replace("Library scan", "Chunk", 1)
        errors = self.errors.as_dict()
        return JobOutcome(summary, self.counters.as_dict(), errors or None)

    def _settle_total(self) -> None:
        """End with `total` = `processed`: files the walk counted and then found gone.

        Deleted while the scan ran, they are missing tracks now, not files; a total still
        counting them left a completed scan at 370 of 400 (and its bar short of the end).
        """
        gone = self.counters.total - self.counters.processed
        if gone > 0:
            self.ctx.log(f"{gone} files counted at discovery were gone when the scan reached them")
            self.counters.total = self.counters.processed

    # -- the library being there ----------------------------------------------------------

    def _await_library(self, fresh: bool = False) -> None:
        """Return once the library is available; wait for it (cancellable) up to the limit.

        A root that went offline (a dropped mount) may come back, so it is waited for. At the
        `fresh` start of a scan, a root missing or unreadable with no track known in it was
        most likely never there (a mistyped setting): nothing can be lost, so the scan fails
        at once instead of waiting minutes. A resumed scan, or one whose root went away
        mid-way, has seen the root and waits.
        """
        problem = self._library_problem()
        if problem is None:
            return
        if fresh and self._known_tracks() <= 0:
            raise LibraryNotFound(
                f"{problem} No track is known in it, so there is nothing to wait for: check "
                "the library setting (MEDIASHELF_LIBRARY)."
            )
        phase = self.counters.phase
        self._set_phase("waiting")
        self.counters.note = f"waiting for the library: {problem}"
        self.ctx.log(self.counters.note, level="warning")
        deadline = time.monotonic() + self.deps.library_wait_s
        delay = 0.5
        while problem is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LibraryUnavailable(
                    f"The library stayed unavailable for {self.deps.library_wait_s:g}s "
                    f"({problem}); nothing was marked missing."
                )
            self._emit()
            self.ctx.sleep(min(delay, left, WAIT_SLICE_S))
            delay = min(delay * 2, 10.0)
            problem = self._library_problem()
        self.counters.note = None
        self._set_phase(phase)
        self.ctx.log("the library is back; carrying on")

    def _planned_root(self) -> RootIdentity | None:
        inode = self.saved.plan.get("root_ino")
        return None if inode is None else int(inode)

    def _library_problem(self) -> str | None:
        problem = library_problem(self.deps.root, self._known_tracks())
        return problem or root_changed(self.deps.root, self._root_seen)

    def _known_tracks(self) -> int:
        """Tracks present in the scope before this scan (from its plan once it has one)."""
        known = self.saved.plan.get("present")
        if known is None:
            rows, already = self.ctx.transaction(lambda s: TrackStore(s).scope_counts(self.prefix))
            known = rows - already
        return int(known)

    # -- diff: count, judge and brake, writing nothing ------------------------------------

    def _diff(self, chunk_writes: int = 0) -> tuple[bool, list[Chunk]]:
        """Count and judge every file; return whether anything needs writing, and the chunks."""
        self._set_phase("discover")
        tally = DiffTally(chunk_writes=chunk_writes)
        taken: set[int] = set()
        named: list[Skip] = []  # the skips to name if no write pass meets them again

        def on_skip(skip: Skip) -> None:
            tally.skip(skip)
            if len(named) <= LINES_OF_A_KIND:
                named.append(skip)

        for part in self._diff_parts(on_skip=on_skip):
            if isinstance(part, Run):
                tally.add_run(part)
            else:
                moves = find_moves(self.ctx.transaction, self.deps.root, _new_files(part), taken)
                tally.add_batch(part, moves)
            self.counters.total = tally.total
            self._checked = tally.total
            self._emit()
        self._set_phase("diff")
        rows, already = self.ctx.transaction(lambda s: TrackStore(s).scope_counts(self.prefix))
        present = rows - already
        self._brake(tally.newly_missing, tally.total, present)
        self.saved.plan = {"present": present, "missing": tally.newly_missing,
                           "moved": tally.moved_present}  # fmt: skip
        if self._root_seen is not None:  # a retried attempt waits for this folder, not another
            self.saved.plan["root_ino"] = self._root_seen
        self.would = tally.would()
        self.counters.total = tally.total
        self.ctx.log(tally.describe())
        if self.params.dry_run or not tally.work():  # the diff's counts are the outcome
            tally.fill(self.counters)
            self.errors = tally.errors
            for skip in named:  # no write pass walks again to name them
                self._skips_log.add(_skip_line(skip))
        self._emit(force=True)
        if tally.chunks:
            tally.chunks[-1].until = None  # the last chunk runs to the end, whatever came since
            tally.place_skips()
        return tally.work(), tally.chunks

    def _brake(self, newly_missing: int, files: int, present: int) -> None:
        if self.params.allow_mass_missing or present <= 0:
            return
        if files == 0 or newly_missing > self._missing_allowed(present):
            raise LibraryOffline(
                f"library root looks offline: {newly_missing} of {present} tracks would be "
                f"marked missing (brake at {self.deps.missing_brake:.0%}); nothing was changed. "
                "Check the mount, or rerun with allow_mass_missing."
            )

    def _missing_allowed(self, present: int) -> float:
        """The brake's limit: its share of the tracks present, plus the deletions watch mode
        saw happen (a deleted top-level folder is a whole-library scan, and was a stall)."""
        return self.deps.missing_brake * present + self.params.missing_seen

    # -- apply: probe and write batch by batch --------------------------------------------

    def _apply(self) -> None:
        while True:
            try:
                self._apply_from(self.saved.after)
                self._count_skips(self.counters, self.errors, self._pending_skips)
                self._pending_skips = []  # after the last batch: the outcome saves them
                return
            except LibraryWentAway:
                self.counters, self.errors = self.saved.counters.copy(), self.saved.errors.copy()
                self._pending_skips = []  # the walk resumes at the checkpoint and meets them
                self._await_library()

    def _apply_from(self, after: str | None) -> None:
        options = ApplyOptions(self.params.refresh_duration, self.params.refresh_size, self.started,
                               chunk=self.in_chunk)  # fmt: skip
        moved_ahead: set[int] = set()
        taken: set[int] = set()
        self._set_phase("probe")
        # Pipelined: while one batch is written, the next one is already being probed, so the
        # pool never waits for a commit. A paced or throttled scan goes one batch at a time.
        ahead = 0 if self.params.throttle_ms or self.params.max_probes_per_s else 1
        inflight: deque[tuple[Batch, list[tuple[Path, Future[Any]]]]] = deque()
        try:
            for items in self._batches(after=after, on_skip=self._count_skip):
                batch = self._plan(items, moved_ahead, taken)
                inflight.append((batch, self._submit(batch)))
                if len(inflight) > ahead:
                    self._finish(*inflight.popleft(), options)
            while inflight:
                self._finish(*inflight.popleft(), options)
        finally:
            for _, submitted in inflight:
                for _, future in submitted:
                    future.cancel()

    def _submit(self, batch: Batch) -> list[tuple[Path, Future[Any]]]:
        """Hand the batch's files to the pool (at the paced rate); return their futures."""
        paths = batch.to_probe(self.deps.root)
        if not paths:
            return []
        pool = self.deps.pool()
        submitted: list[tuple[Path, Future[Any]]] = []
        self._submitting = submitted
        try:
            for path in paths:
                self._pacer.next_item()  # raises when the job must stop
                submitted.append((path, pool.submit(path)))
        except BaseException:
            for _, future in submitted:
                future.cancel()
            raise
        finally:
            self._submitting = []
        return submitted

    def _emit_paced(self) -> None:
        """Write a line while a paced batch is handed out, counting its probes already done.

        At the paced rate handing out a batch lasts as long as probing it (40 s for 200 files
        at 5 a second); counted only once collected, its line said 0 all that time.
        """
        self._emit(in_flight=partial(_finished, self._submitting))

    def _finish(
        self, batch: Batch, submitted: list[tuple[Path, Future[Any]]], options: ApplyOptions
    ) -> None:
        """Collect the batch's probe outcomes, re-check the brake, write it with its checkpoint."""
        self._set_phase("probe", keep_rate=True)
        batch.outcomes = dict(self._collect(submitted))
        if root_changed(self.deps.root, self._root_seen) is not None:
            raise LibraryWentAway()  # waited for: nothing of a foreign folder is written
        self._guard_missing(batch)
        self._set_phase("apply", keep_rate=True)
        self._write(batch, options)
        self._emit()
        self._between_batches()

    def _plan(
        self, items: list[tuple[Item, Verdict]], moved_ahead: set[int], taken: set[int]
    ) -> Batch:
        moves = find_moves(self.ctx.transaction, self.deps.root, _new_files(items), taken)
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

    def _guard_missing(self, batch: Batch) -> None:
        """Re-check the brake right before a batch that marks tracks missing."""
        marks = batch.marks_missing()
        if not marks:
            return
        if library_problem(self.deps.root, self.saved.plan.get("present", 1)) is not None:
            raise LibraryWentAway()
        present = self.saved.plan.get("present", 0)
        # The moves the diff found count as marks until their new paths are reached: a
        # folder renamed to a later name marks its old rows first (its moves clear them).
        planned = self.saved.plan.get("missing", 0) + self.saved.plan.get("moved", 0)
        limit = max(planned, self._missing_allowed(present))
        marked = self.counters.missing
        if self.in_chunk:  # the brake is the whole scan's: the other chunks mark tracks too
            since, prefix = self.started, self.prefix
            marked = self.ctx.transaction(
                lambda s: TrackStore(s).missing_since_count(prefix, since)
            )
        if not self.params.allow_mass_missing and marked + marks > limit:
            raise LibraryOffline(
                f"library root looks offline: {marked + marks} of {present} tracks "
                f"went missing during the scan (brake at {self.deps.missing_brake:.0%}); the "
                "rest was not marked. Check the mount, or rerun with allow_mass_missing."
            )

    def _write(self, batch: Batch, options: ApplyOptions) -> None:
        last = batch.last_relpath()
        behind: list[Skip] = []
        ahead: list[Skip] = []
        for skip in self._pending_skips:
            (behind if last is not None and skip.relpath <= last else ahead).append(skip)

        def work(session: Session) -> tuple[ScanCounters, ErrorSummary, BatchWriter]:
            counters, errors = self.counters.copy(), self.errors.copy()
            writer = BatchWriter(TrackStore(session), counters, errors, options,
                                 self.ctx.clock.now())  # fmt: skip
            writer.write(batch)
            self._count_skips(counters, errors, behind)
            checkpoint = self._checkpoint(counters, errors, last)
            self.ctx.commit_batch(session, counters.as_dict(), checkpoint, errors.as_dict())
            return counters, errors, writer

        counters, errors, writer = self.ctx.batch(work)
        self._pending_skips = ahead
        self._checked += counters.processed - self.counters.processed
        self.counters, self.errors = counters, errors
        self.saved = Saved(last, counters.copy(), errors.copy(), self.saved.plan)
        for note in writer.notes:
            self.ctx.log(note, level="warning")
        for line in writer.failed:
            self._failures_log.add(line)

    def _collect(self, submitted: list[tuple[Path, Future[Any]]]) -> Iterator[tuple[str, Any]]:
        if not submitted:
            return
        pool = self.deps.pool()
        # Every probe done counts, not only those collected: collected in order, a slow
        # first file would show fewer than the lines written while the batch went out.
        in_flight = partial(_finished, submitted)

        def waiting() -> bool:
            """Polled while a probe runs: a slow file (up to its timeout) still gets lines."""
            self._emit(in_flight=in_flight)
            return self.ctx.should_stop()

        for path, outcome in pool.settle(submitted, stop=waiting):
            yield path.relative_to(self.deps.root).as_posix(), outcome
            self._emit(in_flight=in_flight)
        self.ctx.check()

    def _between_batches(self) -> None:
        """Sleep the throttle in slices, so a long pause still writes its lines (§5: 2 s)."""
        left = self.params.throttle_ms / 1000
        while left > 0:
            step = min(left, WAIT_SLICE_S)
            self.ctx.sleep(step)  # raises when the job must stop
            left -= step
            self._emit()

    # -- shared ---------------------------------------------------------------------------

    def _batches(
        self, after: str | None, on_skip: Callable[[Skip], None]
    ) -> Iterator[list[tuple[Item, Verdict]]]:
        """Yield merged items in batches bounded by the rows they write (and their length)."""
        rows = rows_in_order(self.ctx.transaction, self.prefix, after)
        yield from self._judged(merge(self._walk(after, on_skip), rows))

    def _walk(self, after: str | None, on_skip: Callable[[Skip], None]) -> Iterator[Any]:
        """Walk the scope; note what it could not read (see `_judged`)."""
        unreadable: list[str] = []
        self._unreadable = unreadable

        def noted(skip: Skip) -> None:
            if skip.reason == "unreadable":
                unreadable.append(skip.relpath)
            on_skip(skip)

        return walk(
            self.deps.root, self.params.path, on_skip=noted, after=after,
            extensions=self.deps.extensions or MEDIA_EXTENSIONS,
        )  # fmt: skip

    def _diff_parts(
        self, on_skip: Callable[[Skip], None]
    ) -> Iterator[Run | list[tuple[Item, Verdict]]]:
        """Yield what the diff must count: batches of judged items, and runs of unchanged files.

        A page of tracks whose files match it one for one (same paths and fingerprints, all
        probed by the current normaliser) is one Run, judged without an Item per file: an
        unchanged rescan of a large library is mostly that.
        """
        if self.params.force or self._chosen is not None:
            yield from self._batches(after=None, on_skip=on_skip)
            return
        pages = row_pages(self.ctx.transaction, self.prefix, None)
        for part in quick_runs(self._walk(None, on_skip), pages):
            if isinstance(part, Run):
                yield part
            else:
                yield from self._judged(merge(*part))

    def _judged(self, items: Iterable[Item]) -> Iterator[list[tuple[Item, Verdict]]]:
        batch: list[tuple[Item, Verdict]] = []
        writes = 0
        force, chosen, until = self.params.force, self._chosen, self.until
        for item in items:
            if until is not None and item.relpath > until:
                break  # the rest belongs to the next chunk
            verdict = judge(item, force, chosen)
            if verdict is Verdict.MISSING and under_any(item.relpath, self._unreadable):
                # Not found because its folder (or it) could not be read, not because it went:
                # the walk reports a skip before the files after it, so it is known by now.
                verdict = Verdict.UNREACHABLE
            batch.append((item, verdict))
            if verdict is not Verdict.UNCHANGED:
                writes += verdict in WRITES
            if writes >= self.params.batch_size or len(batch) >= MAX_ITEMS_PER_BATCH:
                yield batch
                batch, writes = [], 0
                if self.ctx.should_stop():
                    self.ctx.check()
        if batch:
            yield batch

    def _count_skip(self, skip: Skip) -> None:
        if self.until is not None and skip.relpath > self.until:
            return  # the walk looked past this chunk's range: the next chunk counts it
        self._pending_skips.append(skip)
        self._skips_log.add(_skip_line(skip))

    @staticmethod
    def _count_skips(counters: ScanCounters, errors: ErrorSummary, skips: list[Skip]) -> None:
        """Count `skips` into `counters` and `errors`."""
        for skip in skips:
            counters.processed += 1
            counters.skipped += 1
            errors.add(skip.reason, skip.relpath)

    def _checkpoint(
        self, counters: ScanCounters, errors: ErrorSummary, after: str | None
    ) -> dict[str, Any]:
        return {
            "after": after, "counters": counters.as_dict(), "errors": errors.as_dict(),
            "started_at": self.started.isoformat(), "plan": self.saved.plan,
        }  # fmt: skip

    def _set_phase(self, phase: str, keep_rate: bool = False) -> None:
        if phase != self.counters.phase and not keep_rate:
            self._phase_start, self._checked = time.monotonic(), 0
        self.counters.phase = phase

    def _emit(self, force: bool = False, in_flight: Callable[[], int] | None = None) -> None:
        """Write a progress line, at most every LINE_AFTER_S unless forced.

        `in_flight` counts the probes done in the batch not yet written; it is called only
        when a line is due.
        """
        now = time.monotonic()
        if not force and now - self._last_emit < LINE_AFTER_S:
            return
        self._last_emit = now
        c = self.counters
        shown = c.copy()
        done = 0 if in_flight is None else in_flight()
        shown.processed += done
        shown.pace(self._checked + done, now - self._phase_start,
                   eta=c.phase in ("probe", "apply"))  # fmt: skip
        c.rate, c.eta_s = shown.rate, shown.eta_s
        line = shown.line(self.ctx.clock.now(), self.ctx.job_id)
        self.ctx.report(shown.as_dict(), line=line, error_summary=self.errors.as_dict())
        self.ctx.check()

    def _outcome(self) -> JobOutcome:
        elapsed = (self.ctx.clock.now() - self.started).total_seconds()
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
        c = self.saved.counters
        self._audit("cancelled", {"counters": c.as_dict()})
        return JobCancelled(c.cancelled())

    def _audit(self, phase: str, details: dict[str, Any]) -> None:
        def record(session: Session) -> None:
            AuditStore(session).record(
                ts=self.ctx.clock.now(), action="library.scan", actor=f"job:{self.ctx.job_id}",
                job_id=self.ctx.job_id, details={"phase": phase, **details},
            )  # fmt: skip

        self.ctx.transaction(record)


class CappedLog:
    """Name files of one kind in the job log, up to a cap, then say once that more are not.

    A library of thousands of broken files must not flood the log (it is capped, and the
    oldest lines go first); the error summary counts every one, /problems lists them all.
    """

    def __init__(self, ctx: JobContext, cap: int, what: str) -> None:
        self.ctx, self.cap, self.what, self.seen = ctx, cap, what, 0

    def add(self, line: str) -> None:
        """Log `line` while under the cap; at the cap, log that the rest go unnamed."""
        self.seen += 1
        if self.seen <= self.cap:
            self.ctx.log(line, "warning")
        elif self.seen == self.cap + 1:
            self.ctx.log(f"more {self.what} are not named here: the error summary counts them "
                         "all, and the problems view lists them", "warning")  # fmt: skip


def _skip_line(skip: Skip) -> str:
    """Return the job log's line naming a skipped entry and why."""
    return f"skipped {skip.relpath!r} ({skip.reason}): {skip.detail}"


def _finished(submitted: list[tuple[Path, Future[Any]]]) -> int:
    """Return how many of a batch's probes are done."""
    return sum(future.done() for _, future in submitted)


def chosen_for_reprobe(params: ScanParams) -> Callable[[TrackRow], bool] | None:
    """Return the test picking the tracks a retry asked to probe again, if it asked."""
    ids = frozenset(params.reprobe_ids or ())
    wanted = params.reprobe_class
    if not ids and wanted is None:
        return None
    return lambda row: row.video_id in ids or (wanted is not None and row_problem(row) == wanted)


def _new_files(items: list[tuple[Item, Verdict]]) -> list[Any]:
    return [item.file for item, verdict in items if verdict is Verdict.NEW]
