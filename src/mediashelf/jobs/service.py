"""Job operations for the edges: create, read, list, cancel, retry, logs, stats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditStore
from mediashelf.clock import Clock
from mediashelf.db.schema import Job, JobLog, Worker
from mediashelf.errors import DuplicateJob, JobConflict, JobNotFound
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.store import ACTIVE, JobFilter, JobStore

LOG_STREAMS = ("job", "progress")


def create_job(
    session: Session,
    registry: Registry,
    clock: Clock,
    *,
    kind: str,
    params: dict[str, Any] | None,
    priority: int = 0,
    trigger: str = "api",
    actor: str = "api",
) -> Job:
    """Validate and enqueue a job; raise InvalidJobRequest or DuplicateJob."""
    spec = registry.get(kind)
    parsed = spec.parse(params)
    now = clock.now()
    job = Job(
        kind=kind, status="pending", priority=priority, params=parsed.model_dump(mode="json"),
        unique_key=spec.unique_key(parsed) if spec.unique_key else None, created_at=now,
        run_at=now, attempt=0, max_attempts=spec.max_attempts, trigger=trigger, progress={},
        errors=[],
    )  # fmt: skip
    JobStore(session).enqueue(job)
    JobStore(session).log(job.id, 0, now, "info", f"created by {actor} ({trigger})")
    return job


def get_job(session: Session, job_id: int) -> Job:
    """Return the job, or raise JobNotFound."""
    job = JobStore(session).get(job_id)
    if job is None:
        raise JobNotFound()
    return job


def list_jobs(session: Session, flt: JobFilter) -> tuple[Sequence[Job], int]:
    """Return one page of jobs, newest first, and the total."""
    return JobStore(session).page(flt)


def children_counts(session: Session, job_id: int) -> dict[str, int]:
    """Return the job's children counted by status."""
    return JobStore(session).children_counts(job_id)


def cancel_job(session: Session, clock: Clock, job_id: int, actor: str) -> Job:
    """Cancel a pending job at once, or ask a running one to stop at its next checkpoint."""
    job = get_job(session, job_id)
    store = JobStore(session)
    now = clock.now()
    if job.status == "pending" and store.conditional_update(
        job_id, ["pending"], status="cancelled", finished_at=now,
        summary="Cancelled before it started",
    ):  # fmt: skip
        outcome = "cancelled"
    elif job.status == "running" and store.conditional_update(
        job_id, ["running"], cancel_requested_at=now
    ):
        outcome = "cancel requested"
    else:
        raise JobConflict(f"job {job_id} is {job.status}; only pending or running jobs cancel")
    store.log(job_id, job.attempt, now, "warning", f"{outcome} by {actor}")
    details = {"kind": job.kind, "outcome": outcome}
    AuditStore(session).record(
        ts=now, action="job.cancel", actor=actor, job_id=job_id, details=details
    )
    session.expire(job)
    return get_job(session, job_id)


def retry_job(session: Session, registry: Registry, clock: Clock, job_id: int, actor: str) -> Job:
    """Put a failed or cancelled job back in the queue, from the start, with fresh attempts."""
    job = get_job(session, job_id)
    if job.status not in ("failed", "cancelled"):
        raise JobConflict(f"job {job_id} is {job.status}; only failed or cancelled jobs retry")
    store = JobStore(session)
    if job.unique_key and (active := store.active_with_key(job.unique_key)) is not None:
        raise DuplicateJob(active.id)
    now = clock.now()
    spec = registry.get(job.kind)
    store.conditional_update(
        job_id, ["failed", "cancelled"], status="pending", run_at=now, trigger="retry",
        worker_id=None, cancel_requested_at=None, finished_at=None, checkpoint=None,
        progress={}, summary=None, result=None, error=None, error_summary=None,
        max_attempts=job.attempt + spec.max_attempts,
    )  # fmt: skip
    store.log(job_id, job.attempt, now, "info", f"retry requested by {actor}")
    details = {"kind": job.kind, "previous_status": job.status}
    AuditStore(session).record(
        ts=now, action="job.retry", actor=actor, job_id=job_id, details=details
    )
    session.expire(job)
    return get_job(session, job_id)


def job_logs(
    session: Session, job_id: int, stream: str | None, after: int, limit: int
) -> Sequence[JobLog]:
    """Return the job's log lines after id `after` (an incremental tail)."""
    get_job(session, job_id)
    return JobStore(session).logs(job_id, stream, after, limit)


def log_text(session: Session, job_id: int, stream: str, chunk: int = 1000) -> Iterator[str]:
    """Yield a whole log stream as text lines (for downloads), reading it in chunks."""
    get_job(session, job_id)
    store = JobStore(session)
    after = 0
    while lines := store.logs(job_id, stream, after, chunk):
        for line in lines:
            if stream == "progress":
                yield line.message + "\n"
            else:
                yield f"{line.ts.isoformat()} {line.level.upper():7} {line.message}\n"
        after = lines[-1].id


@dataclass(frozen=True)
class JobStats:
    """Counts for the status tiles and the workers that are alive."""

    by_status: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    completed_today: int
    failed_today: int
    workers: Sequence[Worker]
    now: datetime


def job_stats(session: Session, clock: Clock, lease_s: float) -> JobStats:
    """Return job counts by status and kind, today's outcomes and the live workers."""
    store = JobStore(session)
    now = clock.now()
    by_status: dict[str, int] = dict.fromkeys((*ACTIVE, "completed", "failed", "cancelled"), 0)
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count in store.counts():
        by_status[status] = by_status.get(status, 0) + count
        by_kind.setdefault(kind, {})[status] = count
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return JobStats(
        by_status=by_status,
        by_kind=by_kind,
        completed_today=store.finished_since(midnight, "completed"),
        failed_today=store.finished_since(midnight, "failed"),
        workers=store.live_workers(now - timedelta(seconds=lease_s)),
        now=now,
    )
