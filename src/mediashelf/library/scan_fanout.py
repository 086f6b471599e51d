"""Scale-out scans (DESIGN §6): a large scan on PostgreSQL fans out into chunk jobs.

The parent walks and diffs the whole library (and applies the brake), then cuts the walk into
ranges of a few thousand writes and enqueues one `library_scan_chunk` job per range, in the
same transaction as its own checkpoint. Any worker on any host runs the chunks; the parent
hands its worker slot back and looks in on them now and then, adding up their counters,
error summaries and progress, until they have all ended. Each chunk is an ordinary resumable
job, so a worker killed mid-chunk loses nothing and counts nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from mediashelf.db.schema import Job
from mediashelf.errors import JobCancelled, PermanentJobError
from mediashelf.jobs.context import AwaitChildren, CancelRequested, JobContext
from mediashelf.jobs.registry import JobOutcome
from mediashelf.jobs.service import spawn_children
from mediashelf.jobs.states import ACTIVE, JobStatus
from mediashelf.jobs.store import JobStore
from mediashelf.library.discovery import scope_prefix
from mediashelf.library.kinds import LIBRARY_SCAN_CHUNK
from mediashelf.library.scan import ChunkRange, LibraryScan, ScanDeps
from mediashelf.library.scan_plan import Chunk
from mediashelf.library.scan_progress import ErrorSummary, ScanCounters
from mediashelf.library.scan_request import ScanParams
from mediashelf.library.store import TrackStore

LOOK_IN_S = 1.0  # how often the parent adds up its chunks' progress
SUMMED = (
    "processed", "added", "updated", "unchanged", "moved", "missing", "failed", "skipped",
    "reprobed",
)  # fmt: skip


class ChunkParams(BaseModel):
    """One range of a fanned-out scan: the scan's params and what the parent planned."""

    model_config = ConfigDict(extra="forbid")

    scan: ScanParams
    after: str | None
    until: str | None
    started_at: datetime
    plan: dict[str, int]
    files: int


def run_scan(ctx: JobContext, deps: ScanDeps) -> JobOutcome:
    """Job handler of `library_scan`: in-process, or fanned out when chunks are configured."""
    if (ctx.checkpoint or {}).get("chunks"):
        return look_in(ctx)
    scan = LibraryScan(ctx, deps)
    try:
        return scan.run(fan_out=fan_out if deps.chunk_writes else None)
    except CancelRequested as exc:
        raise scan.cancelled() from exc


def run_scan_chunk(ctx: JobContext, deps: ScanDeps) -> JobOutcome:
    """Job handler of `library_scan_chunk`."""
    params = ctx.params
    assert isinstance(params, ChunkParams)
    chunk = ChunkRange(params.scan, params.after, params.until, params.started_at, params.plan,
                       params.files)  # fmt: skip
    scan = LibraryScan(ctx, deps, chunk)
    try:
        return scan.run_chunk()
    except CancelRequested as exc:
        raise scan.cancelled() from exc


def fan_out(scan: LibraryScan, chunks: list[Chunk]) -> NoReturn:
    """Enqueue one chunk job per range with the parent's checkpoint; hand the slot back."""
    ctx = scan.ctx
    params = [
        ChunkParams(
            scan=scan.params, after=c.after, until=c.until, started_at=scan.started,
            plan=scan.saved.plan, files=c.files,
        ).model_dump(mode="json")
        for c in chunks
    ]  # fmt: skip
    progress = {**scan.counters.as_dict(), "phase": "apply", "chunks": {"total": len(chunks)}}

    def spawn(session: Session) -> dict[str, Any]:
        ctx.check()  # batch()'s hold saw a cancel committed before it: enqueue no chunks
        parent = JobStore(session).get(ctx.job_id)
        assert parent is not None
        ids = spawn_children(session, ctx.clock, parent, LIBRARY_SCAN_CHUNK, params, 3)
        checkpoint = {"chunks": ids, "reported": [], "started_at": scan.started.isoformat(),
                      "total": scan.counters.total, "plan": scan.saved.plan}  # fmt: skip
        ctx.commit_batch(session, progress, checkpoint)
        return checkpoint

    checkpoint = ctx.batch(spawn)
    ctx.log(f"fanned out into {len(chunks)} chunk jobs: {checkpoint['chunks']}")
    raise AwaitChildren(LOOK_IN_S, progress, checkpoint)


def look_in(ctx: JobContext) -> JobOutcome:
    """Add up the chunks' progress; wait again, or end with their combined outcome.

    A cancel reaches the chunks too (`cancel_job`), and the parent keeps looking in until
    they have all stopped, then ends cancelled with their final counters: cancelled at once,
    it kept the counters and chunk states of its last look-in while the chunks went on.
    """
    try:
        ctx.check()
        cancelling = False
    except CancelRequested:
        cancelling = True
    saved = dict(ctx.checkpoint or {})
    counters, errors, children = _our_chunks_counters(ctx)
    reported = set(saved.get("reported", []))
    for child in children:
        if child.status not in ACTIVE and child.id not in reported:
            ctx.log(f"chunk job {child.id} {child.status}: {child.summary or child.error or ''}")
            reported.add(child.id)
    saved["reported"] = sorted(reported)
    active = [c for c in children if c.status in ACTIVE]
    started = datetime.fromisoformat(saved["started_at"])
    elapsed_s = (ctx.clock.now() - started).total_seconds()
    counters.missing = _marked_missing(ctx, started)
    # The whole scan's pace: a sum of the chunks' own rates read 0.0 between their reports.
    counters.pace(counters.processed, elapsed_s, eta=bool(active))
    if not active:
        counters.eta_s = 0
    progress = {**counters.as_dict(), "chunks": _chunk_counts(children)}
    ctx.report(progress, line=counters.line(ctx.clock.now(), ctx.job_id),
               error_summary=errors.as_dict())  # fmt: skip
    if active:
        raise AwaitChildren(LOOK_IN_S, progress, saved)
    if cancelling:
        raise JobCancelled(counters.cancelled())
    unfinished = [c.id for c in children if c.status != JobStatus.COMPLETED]
    summary = counters.summary(elapsed_s, dry_run=False)
    if unfinished:
        raise PermanentJobError(
            f"{len(unfinished)} of {len(children)} scan chunks did not complete (jobs "
            f"{', '.join(map(str, unfinished))}); what they did is kept: {summary}"
        )
    return JobOutcome(summary, progress, errors.as_dict() or None)


def _our_chunks_counters(ctx: JobContext) -> tuple[ScanCounters, ErrorSummary, list[Job]]:
    """Return this run's chunks and their counters and errors added up.

    Only this run's: a retried parent fans out anew, and its earlier (cancelled) chunks once
    failed it and counted their files twice.
    """
    saved = ctx.checkpoint or {}
    ours = set(saved.get("chunks", []))
    children = [c for c in ctx.transaction(lambda s: list(JobStore(s).children(ctx.job_id)))
                if c.id in ours]  # fmt: skip
    return (*_combined(children, int(saved.get("total", 0))), children)


def _marked_missing(ctx: JobContext, started: datetime) -> int:
    """Return how many tracks in the scan's scope this scan marked missing and still are.

    Counted from the tracks, not added up from the chunks: a chunk marks a track missing
    whose file another chunk then finds moved, and neither alone knows both.
    """
    assert isinstance(ctx.params, ScanParams)
    prefix = scope_prefix(ctx.params.path)
    return ctx.transaction(lambda s: TrackStore(s).missing_since_count(prefix, started))


def _combined(children: list[Job], total: int) -> tuple[ScanCounters, ErrorSummary]:
    counters = ScanCounters(phase="apply", total=total)
    errors = ErrorSummary()
    for child in children:
        progress = child.progress or {}
        for name in SUMMED:
            setattr(counters, name, getattr(counters, name) + int(progress.get(name, 0) or 0))
        errors.merge(child.error_summary or {})
    if not any(c.status in ACTIVE for c in children):
        counters.phase = "done"
    return counters, errors


def _chunk_counts(children: list[Job]) -> dict[str, int]:
    counts = {"total": len(children)}
    for child in children:
        counts[child.status] = counts.get(child.status, 0) + 1
    return counts
