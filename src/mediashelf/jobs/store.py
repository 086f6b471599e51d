"""All job SQL: enqueue, atomic claim, fenced worker writes, reaping, logs, retention.

Fencing: every write a worker makes to its job carries the job's id, attempt and worker id and
requires status 'running'. Zero rows updated means the job was taken away (rescued by another
worker, or cancelled and finished), and the worker must stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mediashelf.db.schema import Job, JobLog, ScheduleFire, Worker
from mediashelf.errors import DuplicateJob

ACTIVE = ("pending", "running")
DROPPED_NOTE = "earlier log lines dropped"
FINISHED = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Fence:
    """The identity of one attempt of one job held by one worker."""

    job_id: int
    attempt: int
    worker_id: str

    def holds(self) -> ColumnElement[bool]:
        """Return the SQL condition that this attempt still owns the job."""
        return (
            (Job.id == self.job_id)
            & (Job.attempt == self.attempt)
            & (Job.worker_id == self.worker_id)
            & (Job.status == "running")
        )


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to list, newest first."""

    status: str | None = None
    kind: str | None = None
    limit: int = 50
    offset: int = 0


class JobStore:
    """Reads and writes jobs, job logs, workers and schedule fires in the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- queue ----------------------------------------------------------------------------

    def enqueue(self, job: Job) -> Job:
        """Insert `job`; raise DuplicateJob naming the active job when its unique key is taken."""
        if job.unique_key:
            active = self.active_with_key(job.unique_key)
            if active is not None:
                raise DuplicateJob(active.id)
        try:
            with self.session.begin_nested():
                self.session.add(job)
        except IntegrityError as exc:  # lost a race with another enqueue
            active = self.active_with_key(job.unique_key or "")
            raise DuplicateJob(active.id if active else 0) from exc
        return job

    def active_with_key(self, unique_key: str) -> Job | None:
        """Return the pending or running job holding `unique_key`, if any."""
        return self.session.scalar(
            select(Job).where(Job.unique_key == unique_key, Job.status.in_(ACTIVE))
        )

    def claim(self, worker_id: str, limit: int, now: datetime, kinds: Sequence[str]) -> list[Job]:
        """Atomically take up to `limit` due pending jobs of `kinds` for `worker_id`.

        One statement: WITH due AS MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED) UPDATE …
        RETURNING. On
        SQLite the UPDATE is the transaction's first statement, so it takes the write lock at
        once (the effect of BEGIN IMMEDIATE) and no two workers can pick the same row.
        """
        due = (
            select(Job.id)
            .where(Job.status == "pending", Job.run_at <= now, Job.kind.in_(kinds))
            .order_by(Job.priority.desc(), Job.run_at, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        # The CTE is computed once. As a subquery, PostgreSQL re-runs it for every row it
        # updates, and SKIP LOCKED then yields a new row each time: the LIMIT is defeated
        # and one worker takes every due job.
        stmt = (
            update(Job)
            .where(Job.id.in_(select(due.c.id)), Job.status == "pending")
            .values(
                status="running",
                worker_id=worker_id,
                attempt=Job.attempt + 1,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
            )
            .returning(Job)
            .execution_options(synchronize_session=False)
        )
        return list(self.session.scalars(stmt))

    def get(self, job_id: int) -> Job | None:
        """Return the job with `job_id`."""
        return self.session.get(Job, job_id)

    def page(self, flt: JobFilter) -> tuple[Sequence[Job], int]:
        """Return one page of jobs (newest first) and the total."""
        query = select(Job)
        if flt.status:
            query = query.where(Job.status == flt.status)
        if flt.kind:
            query = query.where(Job.kind == flt.kind)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Job.id.desc()).limit(flt.limit).offset(flt.offset)
        ).all()
        return rows, total

    def counts(self) -> list[tuple[str, str, int]]:
        """Return (kind, status, count) for every kind and status present."""
        rows = self.session.execute(
            select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
        )
        return [(kind, status, int(n)) for kind, status, n in rows]

    def finished_since(self, since: datetime, status: str) -> int:
        """Return how many jobs reached `status` since `since`."""
        return (
            self.session.scalar(
                select(func.count()).where(Job.status == status, Job.finished_at >= since)
            )
            or 0
        )

    def children_counts(self, parent_id: int) -> dict[str, int]:
        """Return the parent's child jobs counted by status."""
        rows = self.session.execute(
            select(Job.status, func.count()).where(Job.parent_id == parent_id).group_by(Job.status)
        )
        return {status: int(n) for status, n in rows}

    # -- fenced worker writes -------------------------------------------------------------

    def fenced_update(self, fence: Fence, **values: Any) -> Job | None:
        """Update the job if `fence` still holds; return the row, or None when fenced out."""
        stmt = (
            update(Job)
            .where(fence.holds())
            .values(**values)
            .returning(Job)
            .execution_options(synchronize_session=False)
        )
        return self.session.scalar(stmt)

    def fenced_log(self, fence: Fence, ts: datetime, stream: str, level: str, message: str) -> bool:
        """Append a log line if `fence` still holds; return whether it was written."""
        source = select(
            literal(fence.job_id),
            literal(fence.attempt),
            literal(ts, type_=JobLog.ts.type),
            literal(stream),
            literal(level),
            literal(message),
        ).where(fence.holds())
        stmt = (
            insert(JobLog)
            .from_select(["job_id", "attempt", "ts", "stream", "level", "message"], source)
            .returning(JobLog.id)
        )
        return self.session.scalar(stmt) is not None

    def log(self, job_id: int, attempt: int, ts: datetime, level: str, message: str) -> None:
        """Append a `job` stream line outside any fence (engine and API events)."""
        self.session.add(
            JobLog(
                job_id=job_id, attempt=attempt, ts=ts, stream="job", level=level, message=message
            )
        )

    def cap_logs(self, job_id: int, attempt: int, cap: int, now: datetime) -> int:
        """Keep each stream of the job within `cap` lines, dropping the oldest.

        One line, kept current, says how many lines were dropped in all; returns that total.
        """
        marker = JobLog.message.like(f"[% {DROPPED_NOTE}%")
        notes = self.session.scalars(
            select(JobLog.message).where(JobLog.job_id == job_id, marker)
        ).all()
        total = sum(int(note[1:].split(" ", 1)[0]) for note in notes)
        dropped = 0
        for stream in ("job", "progress"):
            dropped += self._trim(job_id, stream, cap, marker)
        if dropped:
            self.session.execute(delete(JobLog).where(JobLog.job_id == job_id, marker))
            total += dropped
            self.log(job_id, attempt, now, "warning", f"[{total} {DROPPED_NOTE}: cap {cap}]")
        return total

    def _trim(self, job_id: int, stream: str, cap: int, marker: ColumnElement[bool]) -> int:
        lines = (JobLog.job_id == job_id) & (JobLog.stream == stream) & ~marker
        excess = (self.session.scalar(select(func.count()).where(lines)) or 0) - cap
        if excess <= 0:
            return 0
        cutoff = self.session.scalar(
            select(JobLog.id).where(lines).order_by(JobLog.id).offset(excess).limit(1)
        )
        self.session.execute(delete(JobLog).where(lines, JobLog.id < cutoff))
        return excess

    # -- liveness -------------------------------------------------------------------------

    def register_worker(self, worker: Worker) -> None:
        """Insert or refresh this worker's row."""
        self.session.merge(worker)

    def heartbeat(self, worker_id: str, now: datetime) -> list[tuple[int, int, datetime | None]]:
        """Touch the worker and its running jobs; return (job id, attempt, cancel requested)."""
        self.session.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now))
        rows = self.session.execute(
            update(Job)
            .where(Job.worker_id == worker_id, Job.status == "running")
            .values(heartbeat_at=now)
            .returning(Job.id, Job.attempt, Job.cancel_requested_at)
            .execution_options(synchronize_session=False)
        )
        return [(job_id, attempt, cancel) for job_id, attempt, cancel in rows]

    def remove_worker(self, worker_id: str) -> None:
        """Delete this worker's row (clean shutdown)."""
        self.session.execute(delete(Worker).where(Worker.id == worker_id))

    def live_workers(self, since: datetime) -> Sequence[Worker]:
        """Return workers that heartbeated since `since`."""
        return self.session.scalars(
            select(Worker).where(Worker.heartbeat_at >= since).order_by(Worker.started_at)
        ).all()

    def prune_workers(self, before: datetime) -> None:
        """Forget workers silent since before `before`."""
        self.session.execute(delete(Worker).where(Worker.heartbeat_at < before))

    def silent_running(self, before: datetime, limit: int = 100) -> Sequence[Job]:
        """Return running jobs whose worker has not heartbeated since `before`."""
        return self.session.scalars(
            select(Job)
            .where(Job.status == "running", Job.heartbeat_at < before)
            .order_by(Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    def release(self, job: Job, before: datetime, **values: Any) -> bool:
        """Move a silent running job on (requeue or fail) unless it came back to life."""
        stmt = (
            update(Job)
            .where(
                Job.id == job.id,
                Job.attempt == job.attempt,
                Job.status == "running",
                Job.heartbeat_at < before,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result: CursorResult[Any] = self.session.execute(stmt)  # type: ignore[assignment]
        return result.rowcount == 1

    # -- user actions ---------------------------------------------------------------------

    def conditional_update(self, job_id: int, statuses: Sequence[str], **values: Any) -> bool:
        """Update the job only while its status is one of `statuses`."""
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status.in_(statuses))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result: CursorResult[Any] = self.session.execute(stmt)  # type: ignore[assignment]
        return result.rowcount == 1

    # -- logs -----------------------------------------------------------------------------

    def logs(self, job_id: int, stream: str | None, after: int, limit: int) -> Sequence[JobLog]:
        """Return log lines of the job with id > `after`, oldest first."""
        query = select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after)
        if stream:
            query = query.where(JobLog.stream == stream)
        return self.session.scalars(query.order_by(JobLog.id).limit(limit)).all()

    # -- schedules and retention ----------------------------------------------------------

    def record_fire(self, schedule: str, fire_at: datetime, now: datetime) -> bool:
        """Record one schedule slot; False when another worker already fired it."""
        try:
            with self.session.begin_nested():
                self.session.add(ScheduleFire(schedule=schedule, fire_at=fire_at, created_at=now))
        except IntegrityError:
            return False
        return True

    def set_fire_job(self, schedule: str, fire_at: datetime, job_id: int | None) -> None:
        """Remember which job a schedule slot enqueued."""
        self.session.execute(
            update(ScheduleFire)
            .where(ScheduleFire.schedule == schedule, ScheduleFire.fire_at == fire_at)
            .values(job_id=job_id)
        )

    def prunable(self, before: datetime, keep_last: int, limit: int) -> list[int]:
        """Return ids of finished jobs older than `before`, sparing the newest of each kind."""
        ranked = select(
            Job.id,
            Job.finished_at,
            func.row_number().over(partition_by=Job.kind, order_by=Job.id.desc()).label("rank"),
        ).where(Job.status.in_(FINISHED))
        sub = ranked.subquery()
        rows = self.session.scalars(
            select(sub.c.id)
            .where(sub.c.rank > keep_last, sub.c.finished_at < before)
            .order_by(sub.c.id)
            .limit(limit)
        )
        return list(rows)

    def delete_jobs(self, ids: Sequence[int]) -> None:
        """Delete jobs and their logs."""
        if ids:
            self.session.execute(delete(JobLog).where(JobLog.job_id.in_(ids)))
            self.session.execute(delete(Job).where(Job.id.in_(ids)))


def lease_cutoff(now: datetime, lease_s: float) -> datetime:
    """Return the heartbeat time before which a worker counts as silent."""
    return now - timedelta(seconds=lease_s)
