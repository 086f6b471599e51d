"""Job operations for the edges: create, read, list, cancel, retry, logs, stats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditStore
from mediashelf.clock import Clock
from mediashelf.db.schema import Job, JobLog, Worker
from mediashelf.errors import (
    ConflictingJob,
    DuplicateJob,
    InvalidJobRequest,
    JobBeingCancelled,
    JobConflict,
    JobNotFound,
    StateRefused,
)
from mediashelf.jobs.registry import JobKind, Registry
from mediashelf.jobs.states import ACTIVE, FINISHED, JobStatus
from mediashelf.jobs.store import JobFilter, JobStore, lease_cutoff

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
    parent_id: int | None = None,
) -> Job:
    """Validate and enqueue a job.

    Enqueue-or-join: when an active job holds the same unique key, an equivalent request
    (same normalised params) raises DuplicateJob naming it, so the caller can follow it; a
    different request raises ConflictingJob naming the active job and its params, and any
    request while that job is being cancelled raises JobBeingCancelled.
    Raises InvalidJobRequest for bad params.
    """
    spec = registry.get(kind)
    if spec.spawned_by is not None and parent_id is None:
        raise InvalidJobRequest(f"{kind} jobs are started by a {spec.spawned_by} job only")
    parsed = spec.admit(params)
    wanted = parsed.model_dump(mode="json")
    now = clock.now()
    job = Job(
        kind=kind, status=JobStatus.PENDING, priority=priority, params=wanted,
        unique_key=spec.unique_key(parsed) if spec.unique_key else None, created_at=now,
        run_at=now, attempt=0, max_attempts=spec.max_attempts, trigger=trigger, progress={},
        errors=[], parent_id=parent_id,
    )  # fmt: skip
    store = JobStore(session)
    try:
        store.enqueue(job)
    except DuplicateJob as exc:
        _refuse(store, spec, kind, wanted, exc)
    store.log(job.id, 0, now, "info", f"created by {actor} ({trigger})")
    return job


def _refuse(
    store: JobStore, spec: JobKind, kind: str, wanted: dict[str, Any], taken: DuplicateJob
) -> NoReturn:
    """Raise why a `kind` job with params `wanted` cannot be active beside the job that holds
    its unique key: the same job (`taken` itself: join it), one being cancelled, or another."""
    active = store.get(taken.job_id)
    if active is None or active.kind != kind:
        raise taken
    shown = _non_default(spec, active.params)
    if active.cancel_requested_at is not None:  # joined, it would end in its cancellation
        raise JobBeingCancelled(active.id, active.kind, shown) from taken
    if active.params == wanted:
        raise taken
    raise ConflictingJob(active.id, active.kind, shown) from taken


@dataclass(frozen=True)
class JobRequest:
    """The job that will answer a request, its kind, and whether it was already active."""

    job_id: int
    joined: bool
    kind: str


def request_job(
    session: Session,
    registry: Registry,
    clock: Clock,
    kind: str,
    params: dict[str, Any],
    *,
    trigger: str,
    actor: str,
) -> JobRequest:
    """Enqueue a job, or join the equivalent one already active (see `create_job`)."""
    try:
        job = create_job(
            session, registry, clock, kind=kind, params=params, trigger=trigger, actor=actor
        )
    except DuplicateJob as exc:
        return JobRequest(exc.job_id, joined=True, kind=kind)
    return JobRequest(job.id, joined=False, kind=kind)


def spawn_children(
    session: Session,
    clock: Clock,
    parent: Job,
    kind: str,
    params: list[dict[str, Any]],
    max_attempts: int,
) -> list[int]:
    """Enqueue child jobs of `parent` (params already validated by it); return their ids."""
    now = clock.now()
    store = JobStore(session)
    ids = []
    for child_params in params:
        job = Job(
            kind=kind, status=JobStatus.PENDING, priority=parent.priority, params=child_params,
            created_at=now, run_at=now, attempt=0, max_attempts=max_attempts, trigger="fanout",
            progress={}, errors=[], parent_id=parent.id,
        )  # fmt: skip
        store.enqueue(job)
        ids.append(job.id)
    session.flush()
    for child_id in ids:
        store.log(child_id, 0, now, "info", f"created by job {parent.id}")
    return ids


def _non_default(spec: JobKind, params: dict[str, Any]) -> dict[str, Any]:
    defaults = spec.params_model().model_dump(mode="json")
    return {key: value for key, value in params.items() if defaults.get(key) != value}


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
    """Cancel a pending job at once, or ask a running one to stop at its next checkpoint.

    Raises JobConflict when the job is finished or a cancel was already requested (of two
    concurrent cancels exactly one wins).
    """
    job = get_job(session, job_id)
    now = clock.now()
    status = JobStore(session).request_cancel(job_id, now)
    if status is None:
        session.refresh(job)
        if job.status in ACTIVE:
            raise StateRefused(f"job {job_id} is {job.status}; a cancel was already requested")
        raise StateRefused(f"job {job_id} is {job.status}; only pending or running jobs cancel")
    outcome = "cancelled" if status is JobStatus.CANCELLED else "cancel requested"
    JobStore(session).log(job_id, job.attempt, now, "warning", f"{outcome} by {actor}")
    for child in JobStore(session).children(job_id):  # a parent's cancel reaches its children
        if child.status in ACTIVE and JobStore(session).request_cancel(child.id, now):
            JobStore(session).log(child.id, child.attempt, now, "warning",
                                  f"cancel requested with its parent job {job_id}")  # fmt: skip
    details = {"kind": job.kind, "outcome": outcome}
    AuditStore(session).record(
        ts=now, action="job.cancel", actor=actor, job_id=job_id, details=details
    )
    session.expire(job)
    return get_job(session, job_id)


def retry_job(session: Session, registry: Registry, clock: Clock, job_id: int, actor: str) -> Job:
    """Put a failed or cancelled job back in the queue, from the start, with fresh attempts.

    Raises JobConflict when the job is not failed or cancelled (or another retry won), and
    as `create_job` does when another active job holds its unique key: DuplicateJob for an
    identical one, ConflictingJob (naming its params) for another, JobBeingCancelled.
    """
    job = get_job(session, job_id)
    previous = job.status
    if previous not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise StateRefused(f"job {job_id} is {previous}; only failed or cancelled jobs retry")
    now = clock.now()
    spec = registry.get(job.kind)
    if spec.spawned_by is not None:
        raise StateRefused(f"job {job_id} is a part of job {job.parent_id}; retry that job instead")
    store = JobStore(session)
    try:
        retried = store.retry(job_id, now, job.attempt + spec.max_attempts)
    except DuplicateJob as exc:  # "identical" was said of any scan in the way
        _refuse(store, spec, job.kind, job.params, exc)
    if not retried:
        raise JobConflict(f"job {job_id} was changed by another request; reload and try again")
    store.log(job_id, job.attempt, now, "info", f"retry requested by {actor}")
    details = {"kind": job.kind, "previous_status": previous}
    AuditStore(session).record(
        ts=now, action="job.retry", actor=actor, job_id=job_id, details=details
    )
    session.expire(job)
    return get_job(session, job_id)


def job_logs(
    session: Session, job_id: int, stream: str | None, after: int, limit: int,
    newest: bool = False,
) -> Sequence[JobLog]:  # fmt: skip
    """Return the job's log lines after id `after` (an incremental tail; `newest`: the last
    `limit` of them, where a view opens on a long log)."""
    get_job(session, job_id)
    return JobStore(session).logs(job_id, stream, after, limit, newest)


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
    by_status: dict[str, int] = {status.value: 0 for status in (*ACTIVE, *FINISHED)}
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count in store.counts():
        by_status[status] = by_status.get(status, 0) + count
        by_kind.setdefault(kind, {})[status] = count
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return JobStats(
        by_status=by_status,
        by_kind=by_kind,
        completed_today=store.finished_since(midnight, JobStatus.COMPLETED),
        failed_today=store.finished_since(midnight, JobStatus.FAILED),
        workers=store.live_workers(lease_cutoff(now, lease_s)),
        now=now,
    )


def live_workers(session: Session, clock: Clock, lease_s: float) -> Sequence[Worker]:
    """Return the workers that heartbeated within the lease (what `job_stats` lists)."""
    return JobStore(session).live_workers(lease_cutoff(clock.now(), lease_s))
