"""All job SQL: the named transitions of the state machine, logs, workers, schedules, retention.

Every transition is one conditioned statement and says whether it happened. A worker's writes
are fenced: they carry the job's id, attempt and worker id and require status 'running', so
zero rows means the job was taken away (rescued, or cancelled and finished) and the worker
must stop. Nothing outside this module writes a job's status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Update,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from mediashelf.db.chunks import chunks
from mediashelf.db.schema import Job, JobLog, ScheduleFire, Worker
from mediashelf.errors import DuplicateJob
from mediashelf.jobs.failures import capped, with_record
from mediashelf.jobs.states import ACTIVE, AWAITING, FINISHED, JobStatus

DROPPED_NOTE = "earlier log lines dropped"


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
            & (Job.status == JobStatus.RUNNING)
        )


@dataclass(frozen=True)
class JobFilter:
    """Which jobs to list, newest first."""

    status: str | None = None
    kind: str | None = None
    parent_id: int | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learnt about one held job."""

    job_id: int
    cancel_requested: bool


class JobStore:
    """Reads and writes jobs, job logs, workers and schedule fires in the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _changed(self, stmt: Update) -> bool:
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            stmt.execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def _fenced(self, fence: Fence, **values: Any) -> Job | None:
        stmt = update(Job).where(fence.holds()).values(**values).returning(Job)
        return self.session.scalar(stmt.execution_options(synchronize_session=False))

    # -- transitions ----------------------------------------------------------------------

    def enqueue(self, job: Job) -> Job:
        """(new) → pending; raise DuplicateJob naming the active job when its key is taken.

        Only a new, unsaved job may be enqueued: a row that exists changes status only through
        the other transitions.
        """
        if job.id is not None or job in self.session:
            raise ValueError("enqueue takes a new job, not a stored one")
        job.status = JobStatus.PENDING
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

    def claim(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        kinds: Sequence[str],
        look_ins_only: bool = False,
    ) -> list[Job]:
        """pending → running: atomically take up to `limit` due jobs of `kinds`.

        `look_ins_only`: only parents waiting for their children (checkpoint `AWAITING`),
        which a worker runs beside its busy slots.

        PostgreSQL: WITH due AS MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED) UPDATE …
        RETURNING. The CTE is computed once; as a plain subquery PostgreSQL re-runs it for
        every row it updates, SKIP LOCKED then yields a new row each time, and one worker
        takes every due job. SQLite: the UPDATE is the transaction's first statement, so it
        takes the write lock at once (the effect of BEGIN IMMEDIATE).
        """
        due = (
            select(Job.id)
            .where(*_due(now, kinds, look_ins_only))
            .order_by(Job.priority.desc(), Job.run_at, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        stmt = (
            update(Job)
            .where(Job.id.in_(select(due.c.id)), Job.status == JobStatus.PENDING)
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker_id,
                attempt=Job.attempt + 1,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
            )
            .returning(Job)
            .execution_options(synchronize_session=False)
        )
        return list(self.session.scalars(stmt))

    def look_in_due(self, now: datetime, kinds: Sequence[str]) -> bool:
        """Tell whether a waiting parent's look-in is due: a read, so a busy worker asking
        every poll takes no write lock (SQLite) unless there is one to claim."""
        stmt = select(Job.id).where(*_due(now, kinds, look_ins_only=True)).limit(1)
        return self.session.scalar(stmt) is not None

    def touch_worker(self, worker_id: str, now: datetime) -> bool:
        """Renew this worker's own heartbeat; False when its row is gone (pruned).

        The first write of a heartbeat: on SQLite it waits for the database's write lock,
        so the jobs' stamp is read after it (see `heartbeat`).
        """
        stmt = (
            update(Worker)
            .where(Worker.id == worker_id)
            .values(heartbeat_at=_not_before(Worker.heartbeat_at, now))
        )
        return self._changed(stmt)

    def heartbeat(self, held: Sequence[Fence], now: datetime) -> list[Beat]:
        """running → running: renew exactly the attempts a worker's runners hold.

        A job whose runner died is not in `held`, so it is not kept alive: the reaper
        rescues it once the lease runs out. A job whose row a batch holds is not waited for
        (SKIP LOCKED on PostgreSQL): the batch stamps it when it commits, and waiting would
        hold every other job's beat behind one long batch until another worker's reaper
        found them silent. It is still reported held, as its fence still matches. On SQLite
        the first write waited for the lock instead, so `now`, read after it, is current; a
        stamp never goes back either way.
        """
        beats: list[Beat] = []
        for part in chunks(list(held), 200):
            if not part:
                continue
            holds = or_(*(fence.holds() for fence in part))
            free = select(Job.id).where(holds).with_for_update(skip_locked=True)
            renewed = self.session.execute(
                update(Job)
                .where(Job.id.in_(free.scalar_subquery()))
                .values(heartbeat_at=_not_before(Job.heartbeat_at, now))
                .returning(Job.id, Job.cancel_requested_at)
                .execution_options(synchronize_session=False)
            ).all()
            busy: list[Any] = []
            if len(renewed) < len(part):  # locked by their batch, or fenced out
                done = {job_id for job_id, _ in renewed}
                busy = [*self.session.execute(
                    select(Job.id, Job.cancel_requested_at).where(holds, Job.id.not_in(done))
                )]  # fmt: skip
            beats += [Beat(job_id, cancel is not None) for job_id, cancel in [*renewed, *busy]]
        return beats

    def hold(self, fence: Fence, now: datetime) -> Job | None:
        """running → running: lock the job's row for this attempt; None if fenced out."""
        return self._fenced(fence, heartbeat_at=now)

    def checkpoint(
        self,
        fence: Fence,
        now: datetime,
        progress: dict[str, Any],
        checkpoint: dict[str, Any] | None = None,
        error_summary: dict[str, Any] | None = None,
    ) -> Job | None:
        """running → running: save counters (and checkpoint, error summary); None if fenced out."""
        values: dict[str, Any] = {"progress": progress, "heartbeat_at": now}
        if checkpoint is not None:
            values["checkpoint"] = checkpoint
        if error_summary is not None:
            values["error_summary"] = error_summary
        return self._fenced(fence, **values)

    def complete(
        self,
        fence: Fence,
        now: datetime,
        summary: str,
        result: dict[str, Any],
        error_summary: dict[str, Any] | None,
    ) -> bool:
        """running → completed."""
        return self._fenced(
            fence, status=JobStatus.COMPLETED, finished_at=now, summary=summary, result=result,
            error_summary=error_summary,
        ) is not None  # fmt: skip

    def fail_attempt(
        self, fence: Fence, now: datetime, record: dict[str, Any], retry_at: datetime | None
    ) -> bool:
        """running → pending (retry at `retry_at`) or → failed (no retry left)."""
        job = self.get(fence.job_id)
        if job is None:
            return False
        values: dict[str, Any] = {
            "error": record["error"],
            "errors": with_record(job.errors, record),
        }
        if retry_at is not None:
            values |= {"status": JobStatus.PENDING, "worker_id": None, "run_at": retry_at}
        else:
            values |= {
                "status": JobStatus.FAILED, "finished_at": now,
                "summary": capped(f"Failed: {record['error']}"),
            }  # fmt: skip
        return self._fenced(fence, **values) is not None

    def requeue(self, fence: Fence, now: datetime) -> bool:
        """running → pending: the worker is stopping; the attempt is given back."""
        return (
            self._fenced(
                fence,
                status=JobStatus.PENDING,
                worker_id=None,
                run_at=now,
                attempt=fence.attempt - 1,
            )
            is not None
        )

    def await_children(
        self,
        fence: Fence,
        run_at: datetime,
        progress: dict[str, Any],
        checkpoint: dict[str, Any],
    ) -> bool:
        """running → pending until `run_at`, keeping progress and checkpoint.

        A parent hands its worker slot back while its children run; the attempt is given back.
        """
        values = {
            "status": JobStatus.PENDING, "worker_id": None, "run_at": run_at,
            "attempt": fence.attempt - 1, "progress": progress, "checkpoint": checkpoint,
        }  # fmt: skip
        return self._fenced(fence, **values) is not None

    def children(self, parent_id: int) -> Sequence[Job]:
        """Return the parent's child jobs, oldest first."""
        return self.session.scalars(
            select(Job).where(Job.parent_id == parent_id).order_by(Job.id)
        ).all()

    def mark_cancelled(self, fence: Fence, now: datetime, summary: str) -> bool:
        """running → cancelled: the handler stopped at a checkpoint; committed work stays."""
        return (
            self._fenced(fence, status=JobStatus.CANCELLED, finished_at=now, summary=summary)
            is not None
        )

    def wake_parent(self, parent_id: int, now: datetime) -> bool:
        """Make a pending parent due now if none of its children is active; tell if so.

        A parent waiting for its children looks in on them every few seconds; called after a
        child ended, this lets it complete as soon as its last child has, on the worker that
        child freed. Not a status change: the parent stays pending, only its run_at moves.
        """
        child = aliased(Job)  # not the updated row: its children
        active = select(child.id).where(child.parent_id == parent_id, child.status.in_(ACTIVE))
        wake = (
            update(Job)
            .where(Job.id == parent_id, Job.status == JobStatus.PENDING, Job.run_at > now)
            .where(~exists(active))
            .values(run_at=now)
        )
        return self._changed(wake)

    def rescue(
        self, job: Job, silent_before: datetime, now: datetime, record: dict[str, Any]
    ) -> JobStatus | None:
        """running → pending / failed / cancelled for a job whose worker fell silent.

        Conditioned on the attempt and on the heartbeat still being old, so a worker that
        came back to life in the meantime keeps its job. Returns the new status, or None.
        A parent's look-in goes back to pending, even with a cancel requested or its attempts
        spent: only a look-in can end it with its children's final counters (ended here, it
        kept its last look-in's while they ran on).
        """
        values: dict[str, Any]
        if (job.checkpoint or {}).get(AWAITING):  # a look-in: its children may still run
            status, values = JobStatus.PENDING, {"worker_id": None, "run_at": now}
        elif job.cancel_requested_at is not None:
            status, values = JobStatus.CANCELLED, {"finished_at": now, "summary": "Cancelled"}
        elif job.attempt < job.max_attempts:
            status, values = JobStatus.PENDING, {"worker_id": None, "run_at": now}
        else:
            summary = capped(f"Failed: {record['error']}")
            status, values = JobStatus.FAILED, {"finished_at": now, "summary": summary}
        stmt = (
            update(Job)
            .where(
                Job.id == job.id,
                Job.attempt == job.attempt,
                Job.status == JobStatus.RUNNING,
                Job.heartbeat_at < silent_before,
            )
            .values(
                status=status,
                error=record["error"],
                errors=with_record(job.errors, record),
                **values,
            )
        )
        return status if self._changed(stmt) else None

    def request_cancel(self, job_id: int, now: datetime) -> JobStatus | None:
        """pending → cancelled at once; running → running with cancel requested.

        A parent waiting for its children stays pending with cancel requested, due now: it
        looks in until they have stopped and ends cancelled with their final counters.
        One statement; None when the job was neither (or a cancel was already asked for),
        so of two concurrent cancels exactly one wins.
        """
        awaiting = (Job.status == JobStatus.PENDING) & _awaiting()
        pending = (Job.status == JobStatus.PENDING) & ~awaiting
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status.in_(ACTIVE), Job.cancel_requested_at.is_(None))
            .values(
                status=case((pending, JobStatus.CANCELLED.value), else_=Job.status),
                finished_at=case((pending, now), else_=Job.finished_at),
                run_at=case((awaiting, now), else_=Job.run_at),
                summary=case(
                    (pending & Job.started_at.is_(None), "Cancelled before it started"),
                    (pending, "Cancelled while waiting to run again; the work done is kept"),
                    else_=Job.summary,
                ),
                cancel_requested_at=now,
            )
            .returning(Job.status)
            .execution_options(synchronize_session=False)
        )
        status = self.session.scalar(stmt)
        return JobStatus(status) if status is not None else None

    def retry(self, job_id: int, now: datetime, max_attempts: int) -> bool:
        """failed / cancelled → pending, from the start; False when another request won.

        Raises DuplicateJob when another active job already holds the job's unique key.
        """
        stmt = (
            update(Job)
            .where(Job.id == job_id, Job.status.in_((JobStatus.FAILED, JobStatus.CANCELLED)))
            .values(
                status=JobStatus.PENDING,
                run_at=now,
                trigger="retry",
                worker_id=None,
                cancel_requested_at=None,
                started_at=None,  # from the start: the run's duration is the new one's
                finished_at=None,
                checkpoint=None,
                progress={},
                summary=None,
                result=None,
                error=None,
                error_summary=None,
                max_attempts=max_attempts,
            )
        )
        try:
            with self.session.begin_nested():
                return self._changed(stmt)
        except IntegrityError as exc:
            key = self.session.scalar(select(Job.unique_key).where(Job.id == job_id))
            active = self.active_with_key(key or "")
            raise DuplicateJob(active.id if active else 0) from exc

    # -- reads ----------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        """Return the job with `job_id`."""
        return self.session.get(Job, job_id)

    def active_with_key(self, unique_key: str) -> Job | None:
        """Return the pending or running job holding `unique_key`, if any."""
        return self.session.scalar(
            select(Job).where(Job.unique_key == unique_key, Job.status.in_(ACTIVE))
        )

    def cancel_requested(self, ids: Sequence[int]) -> set[int]:
        """Return which of the running jobs `ids` have a cancel request."""
        found: set[int] = set()
        for part in chunks(list(ids)):
            found |= set(
                self.session.scalars(
                    select(Job.id).where(Job.id.in_(part), Job.cancel_requested_at.is_not(None))
                )
            )
        return found

    def page(self, flt: JobFilter) -> tuple[Sequence[Job], int]:
        """Return one page of jobs (newest first) and the total."""
        query = select(Job)
        if flt.status:
            query = query.where(Job.status == flt.status)
        if flt.kind:
            query = query.where(Job.kind == flt.kind)
        if flt.parent_id is not None:
            query = query.where(Job.parent_id == flt.parent_id)
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

    def finished_since(self, since: datetime, status: JobStatus) -> int:
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

    def silent_running(self, before: datetime, limit: int = 100) -> Sequence[Job]:
        """Return running jobs whose worker has not heartbeated since `before`."""
        return self.session.scalars(
            select(Job)
            .where(Job.status == JobStatus.RUNNING, Job.heartbeat_at < before)
            .order_by(Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()

    # -- logs -----------------------------------------------------------------------------

    def fenced_log(self, fence: Fence, ts: datetime, stream: str, level: str, message: str) -> bool:
        """Append a log line if `fence` still holds; return whether it was written."""
        source = select(
            literal(fence.job_id), literal(fence.attempt), literal(ts, type_=JobLog.ts.type),
            literal(stream), literal(level), literal(message),
        ).where(fence.holds())  # fmt: skip
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

        The running total is stored in `jobs.logs_dropped`; one line, kept current, says it.
        Returns the total.
        """
        marker = JobLog.message.like(f"[% {DROPPED_NOTE}%")
        dropped = sum(self._trim(job_id, stream, cap, marker) for stream in ("job", "progress"))
        if not dropped:
            return self.session.scalar(select(Job.logs_dropped).where(Job.id == job_id)) or 0
        total = self.session.scalar(
            update(Job)
            .where(Job.id == job_id)
            .values(logs_dropped=Job.logs_dropped + dropped)
            .returning(Job.logs_dropped)
            .execution_options(synchronize_session=False)
        )
        self.session.execute(delete(JobLog).where(JobLog.job_id == job_id, marker))
        self.log(job_id, attempt, now, "warning", f"[{total} {DROPPED_NOTE}: cap {cap}]")
        return int(total or 0)

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

    def logs(
        self, job_id: int, stream: str | None, after: int, limit: int, newest: bool = False
    ) -> Sequence[JobLog]:
        """Return log lines of the job with id > `after`, oldest first: the first `limit` of
        them, or with `newest` the last `limit` (a long job's tail)."""
        query = select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after)
        if stream:
            query = query.where(JobLog.stream == stream)
        order = JobLog.id.desc() if newest else JobLog.id
        lines = self.session.scalars(query.order_by(order).limit(limit)).all()
        return lines[::-1] if newest else lines

    # -- workers --------------------------------------------------------------------------

    def register_worker(self, worker: Worker) -> None:
        """Insert or refresh this worker's row."""
        self.session.merge(worker)

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
            .where(and_(sub.c.rank > keep_last, sub.c.finished_at < before))
            .order_by(sub.c.id)
            .limit(limit)
        )
        return list(rows)

    def delete_jobs(self, ids: Sequence[int]) -> None:
        """Delete jobs and their logs."""
        for part in chunks(list(ids)):
            self.session.execute(delete(JobLog).where(JobLog.job_id.in_(part)))
            self.session.execute(delete(Job).where(Job.id.in_(part)))


def lease_cutoff(now: datetime, lease_s: float) -> datetime:
    """Return the heartbeat time before which a worker counts as silent."""
    return now - timedelta(seconds=lease_s)


def _due(now: datetime, kinds: Sequence[str], look_ins_only: bool) -> list[ColumnElement[bool]]:
    """The conditions of a claimable job: pending, due, of a kind this worker runs."""
    due = [Job.status == JobStatus.PENDING, Job.run_at <= now, Job.kind.in_(kinds)]
    if look_ins_only:
        due.append(_awaiting())
    return due


def _awaiting() -> ColumnElement[bool]:
    """A parent waiting for its children: `AWAITING` in its checkpoint (NULL-safe)."""
    flag: ColumnElement[bool] = Job.checkpoint[AWAITING].as_boolean().is_(True)
    return flag


def _not_before(stamp: QueryableAttribute[Any], now: datetime) -> ColumnElement[datetime]:
    """Return the later of `stamp` and `now` (`now` when `stamp` is unset), in SQL."""
    stamped = literal(now, type_=stamp.type)  # written as the column writes (naive UTC)
    later: ColumnElement[datetime] = case((stamp > stamped, stamp), else_=stamped)
    return later
