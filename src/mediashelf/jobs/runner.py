"""Running one claimed job attempt and recording how it ended (all writes fenced)."""

from __future__ import annotations

import logging
import random
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mediashelf.clock import Clock
from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.errors import (
    InvalidJobRequest,
    JobCancelled,
    JobLost,
    LibraryUnavailable,
    MediashelfError,
    PermanentJobError,
)
from mediashelf.jobs.context import JobContext, StopSignals, WorkerStopping
from mediashelf.jobs.registry import JobOutcome, Registry
from mediashelf.jobs.retry import backoff_s
from mediashelf.jobs.store import Fence, JobStore

log = logging.getLogger(__name__)

PERMANENT = (PermanentJobError, InvalidJobRequest, LibraryUnavailable)


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
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.worker_id = worker_id
        self.policy = policy
        self.log_cap = log_cap
        self.rng = rng or random.Random()

    def run(self, job: Job, signals: StopSignals) -> str:
        """Run one attempt of `job`; return the status it ended in ("lost" if taken away)."""
        fence = Fence(job.id, job.attempt, self.worker_id)
        try:
            kind = self.registry.get(job.kind)
            ctx = JobContext(
                db=self.db, clock=self.clock, fence=fence, kind=job.kind,
                params=kind.parse(job.params), checkpoint=job.checkpoint, trigger=job.trigger,
                log_cap=self.log_cap, signals=signals,
            )  # fmt: skip
            ctx.log(f"attempt {job.attempt}/{job.max_attempts} started on {self.worker_id}")
            ctx.check()
            outcome = kind.handler(ctx) or JobOutcome(summary=f"{job.kind} completed")
        except JobLost:
            log.warning("Job %s attempt %s was taken away from this worker", job.id, job.attempt)
            return "lost"
        except JobCancelled as exc:
            return self._finish(fence, "cancelled", summary=exc.message)
        except WorkerStopping:
            return self._requeue_on_shutdown(fence)
        except PERMANENT as exc:
            return self._fail(job, fence, exc, retry=False)
        except Exception as exc:
            return self._fail(job, fence, exc, retry=True)
        return self._finish(
            fence, "completed", summary=outcome.summary, result=outcome.result,
            error_summary=outcome.error_summary,
        )  # fmt: skip

    def _finish(self, fence: Fence, status: str, **values: Any) -> str:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            store = JobStore(session)
            row = store.fenced_update(fence, status=status, finished_at=now, **values)
            if row is None:
                return "lost"
            store.log(fence.job_id, fence.attempt, now, "info", f"{status}: {values['summary']}")
            store.cap_logs(fence.job_id, fence.attempt, self.log_cap, now)
        log.info("Job %s %s: %s", fence.job_id, status, values["summary"])
        return status

    def _requeue_on_shutdown(self, fence: Fence) -> str:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            store = JobStore(session)
            row = store.fenced_update(
                fence, status="pending", worker_id=None, run_at=now, attempt=fence.attempt - 1
            )
            if row is None:
                return "lost"
            store.log(fence.job_id, fence.attempt, now, "warning", "worker stopping: requeued")
        return "pending"

    def _fail(self, job: Job, fence: Fence, exc: BaseException, retry: bool) -> str:
        now = self.clock.now()
        message = (
            exc.message if isinstance(exc, MediashelfError) else f"{type(exc).__name__}: {exc}"
        )
        entry = {
            "attempt": fence.attempt, "at": now.isoformat(), "error": message,
            "class": type(exc).__name__, "worker": self.worker_id,
        }  # fmt: skip
        if not isinstance(exc, MediashelfError):
            log.error("Job %s failed:\n%s", job.id, "".join(traceback.format_exception(exc)))
        again = retry and fence.attempt < job.max_attempts
        with self.db.unit_of_work() as session:
            store = JobStore(session)
            current = store.get(job.id)
            errors = [*(current.errors if current else []), entry]
            if again:
                delay = backoff_s(fence.attempt, self.policy.base_s, self.policy.max_s, self.rng)
                values: dict[str, Any] = {
                    "status": "pending", "worker_id": None, "error": message, "errors": errors,
                    "run_at": now + timedelta(seconds=delay),
                }  # fmt: skip
                note = f"attempt {fence.attempt} failed: {message}; retrying in {delay:.1f}s"
            else:
                values = {
                    "status": "failed", "finished_at": now, "error": message, "errors": errors,
                    "summary": f"Failed: {message}",
                }  # fmt: skip
                note = f"failed: {message}"
            if store.fenced_update(fence, **values) is None:
                return "lost"
            store.log(job.id, fence.attempt, now, "error", note)
            store.cap_logs(job.id, fence.attempt, self.log_cap, now)
        return str(values["status"])
