"""Running one claimed job attempt and recording how it ended (all writes fenced)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mediashelf.clock import Clock
from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.errors import (
    InvalidJobRequest,
    JobCancelled,
    JobLost,
    MediashelfError,
    PermanentJobError,
)
from mediashelf.jobs.context import (
    AwaitChildren,
    JobContext,
    StopSignals,
    WorkerStopping,
)
from mediashelf.jobs.failures import (
    attempt_record,
    error_class,
    technical_detail,
    user_message,
)
from mediashelf.jobs.registry import JobOutcome, Registry
from mediashelf.jobs.resilience import OutageOutlasted, resilient
from mediashelf.jobs.retry import backoff_s
from mediashelf.jobs.states import AWAITING, FINISHED, JobStatus
from mediashelf.jobs.store import Fence, JobStore

log = logging.getLogger(__name__)

PERMANENT = (PermanentJobError, InvalidJobRequest)
LOST = "lost"  # what `run` returns when the job was taken away from this worker


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before retrying a failed attempt."""

    base_s: float = 10.0
    max_s: float = 600.0


class JobRunner:
    """Runs claimed jobs for one worker."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        clock: Clock,
        worker_id: str,
        policy: RetryPolicy,
        log_cap: int,
        rng: random.Random | None = None,
        private: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.worker_id = worker_id
        self.policy = policy
        self.log_cap = log_cap
        self.rng = rng or random.Random()
        self.private = private  # server folders never shown in user-facing text

    def run(self, job: Job, signals: StopSignals) -> str:
        """Run one attempt of `job`; return the status it ended in ("lost" if taken away)."""
        status = self._attempt(job, signals)
        if job.parent_id is not None and status in FINISHED:
            self._wake_parent(job.parent_id, signals)
        return status

    def _wake_parent(self, parent_id: int, signals: StopSignals) -> None:
        """Make a parent waiting for its children due now if none is active any more.

        Its own transaction, after the child's ending one committed: of two children ending
        at the same moment, the one that looks last sees both ended. (Inside the ending
        transaction each might see the other still active, and would lock the parent after
        its own row, against the order in which a cancel locks them.) Only a shortcut: a
        parent not woken (the database away, the worker stopping) still looks in by itself.
        """
        now = self.clock.now()
        try:
            resilient(
                self.db, lambda session: JobStore(session).wake_parent(parent_id, now),
                signals.stopping.wait, f"job {parent_id}",
            )  # fmt: skip
        except (OutageOutlasted, SQLAlchemyError) as exc:
            log.warning("Parent job %s not woken; it looks in by itself (%s)", parent_id, exc)

    def _attempt(self, job: Job, signals: StopSignals) -> str:
        fence = Fence(job.id, job.attempt, self.worker_id)
        try:
            try:
                outcome = self._handle(job, fence, signals)
            except JobLost:
                log.warning("Job %s attempt %s was taken away from this worker", *fence_ids(fence))
                return LOST
            except JobCancelled as exc:
                return self._end(fence, signals, "mark_cancelled", exc.message)
            except AwaitChildren as exc:
                return self._await(fence, signals, exc)
            except WorkerStopping:
                return self._end(fence, signals, "requeue", "worker stopping: requeued")
            except OutageOutlasted:
                raise
            except PERMANENT as exc:
                return self._fail(job, fence, signals, exc, retry=False)
            except Exception as exc:
                return self._fail(job, fence, signals, exc, retry=True)
            return self._complete(fence, signals, outcome)
        except OutageOutlasted:
            # The worker stopped while the database was away: nothing can be written now.
            # The job stays running until a worker's reaper sees this one silent.
            log.warning("Job %s: worker stopped during a database outage", job.id)
            return LOST

    def fail_crashed(self, job: Job, fence: Fence, signals: StopSignals, exc: BaseException) -> str:
        """Record an attempt whose runner died outside the handler, so the job moves on."""
        error = exc if isinstance(exc, Exception) else RuntimeError(type(exc).__name__)
        return self._fail(job, fence, signals, error, retry=True)

    def _handle(self, job: Job, fence: Fence, signals: StopSignals) -> JobOutcome:
        kind = self.registry.get(job.kind)
        ctx = JobContext(
            db=self.db, clock=self.clock, fence=fence, kind=job.kind,
            params=kind.parse(job.params), checkpoint=job.checkpoint, trigger=job.trigger,
            log_cap=self.log_cap, signals=signals,
        )  # fmt: skip
        # A parent looking in on its children neither logs each look-in nor stops here on a
        # cancel: it waits for its children to stop first, and its handler says when.
        if not (job.checkpoint or {}).get(AWAITING):
            ctx.log(f"attempt {job.attempt}/{job.max_attempts} started on {self.worker_id}")
            ctx.check()
        return kind.handler(ctx) or JobOutcome(summary=f"{job.kind} completed")

    def _write(
        self, fence: Fence, signals: StopSignals, work: Callable[[JobStore], bool], note: str,
        level: str = "info",
    ) -> bool:  # fmt: skip
        """Run one ending transition and its log line; False when fenced out."""
        now = self.clock.now()

        def transition(session: Session) -> bool:
            store = JobStore(session)
            if not work(store):
                return False
            store.log(fence.job_id, fence.attempt, now, level, note)
            store.cap_logs(fence.job_id, fence.attempt, self.log_cap, now)
            return True

        return resilient(self.db, transition, signals.stopping.wait, f"job {fence.job_id}")

    def _complete(self, fence: Fence, signals: StopSignals, outcome: JobOutcome) -> str:
        now = self.clock.now()
        done = self._write(
            fence, signals,
            lambda s: s.complete(fence, now, outcome.summary, outcome.result,
                                 outcome.error_summary),
            f"completed: {outcome.summary}",
        )  # fmt: skip
        if done:
            log.info("Job %s completed: %s", fence.job_id, outcome.summary)
        return JobStatus.COMPLETED if done else LOST

    def _end(self, fence: Fence, signals: StopSignals, how: str, summary: str) -> str:
        now = self.clock.now()
        if how == "requeue":
            done = self._write(fence, signals, lambda s: s.requeue(fence, now), summary, "warning")
            return JobStatus.PENDING if done else LOST
        done = self._write(
            fence, signals, lambda s: s.mark_cancelled(fence, now, summary),
            f"cancelled: {summary}", "warning",
        )  # fmt: skip
        return JobStatus.CANCELLED if done else LOST

    def _await(self, fence: Fence, signals: StopSignals, wait: AwaitChildren) -> str:
        run_at = self.clock.now() + timedelta(seconds=wait.delay_s)
        checkpoint = {**wait.checkpoint, AWAITING: True}

        def transition(session: Session) -> bool:
            return JobStore(session).await_children(fence, run_at, wait.progress, checkpoint)

        done = resilient(self.db, transition, signals.stopping.wait, f"job {fence.job_id}")
        if done:  # the last child may have ended while this look-in ran, its wake missed
            self._wake_parent(fence.job_id, signals)
        return JobStatus.PENDING if done else LOST

    def _fail(
        self, job: Job, fence: Fence, signals: StopSignals, exc: Exception, retry: bool
    ) -> str:
        now = self.clock.now()
        message = user_message(exc, self.private)
        record = attempt_record(fence.attempt, now, error_class(exc), message, self.worker_id)
        again = retry and fence.attempt < job.max_attempts
        retry_at = None
        note = f"failed: {message}"
        if again:
            delay = backoff_s(fence.attempt, self.policy.base_s, self.policy.max_s, self.rng)
            retry_at = now + timedelta(seconds=delay)
            note = f"attempt {fence.attempt} failed: {message}; retrying in {delay:.1f}s"
        if isinstance(exc, MediashelfError):  # foreseen (library offline…): its message says it
            log.error("Job %s attempt %s failed: %s", job.id, fence.attempt, message)
        else:  # a fault: where it happened matters
            log.error("Job %s attempt %s failed", job.id, fence.attempt, exc_info=exc)
        detail = technical_detail(exc)

        def work(store: JobStore) -> bool:
            if not store.fail_attempt(fence, now, record, retry_at):
                return False
            store.log(job.id, fence.attempt, now, "debug", detail)
            return True

        done = self._write(fence, signals, work, note, "error")
        if not done:
            return LOST
        return JobStatus.PENDING if again else JobStatus.FAILED


def fence_ids(fence: Fence) -> tuple[int, int]:
    """Return (job id, attempt) for log messages."""
    return fence.job_id, fence.attempt
