"""What a running job's handler sees: its params, checkpoint, logs, progress and stop signals.

Every write goes through `transaction`, which rides out database outages (the job keeps its
place and its committed work), and every write about the job itself is fenced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from mediashelf.clock import Clock
from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.errors import JobCancelled, JobLost, MediashelfError
from mediashelf.jobs.resilience import resilient
from mediashelf.jobs.store import Fence, JobStore

T = TypeVar("T")


class WorkerStopping(MediashelfError):
    """The worker is shutting down; the job goes back to the queue."""


class CancelRequested(JobCancelled):
    """Cancelled; work already done is kept."""


class AwaitChildren(Exception):
    """The job waits for its children: back to the queue until `delay_s` from now."""

    def __init__(self, delay_s: float, progress: dict[str, Any], checkpoint: dict[str, Any]):
        super().__init__(f"awaiting children for {delay_s:g}s")
        self.delay_s = delay_s
        self.progress = progress
        self.checkpoint = checkpoint


class StopSignals:
    """Flags the worker's threads raise for a running job, and one event that wakes waits."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.stopping = threading.Event()
        self.any = threading.Event()

    def request_cancel(self) -> None:
        """Ask the job to stop at its next checkpoint."""
        self.cancel.set()
        self.any.set()

    def mark_lost(self) -> None:
        """Tell the job it was taken away from this worker."""
        self.lost.set()
        self.any.set()

    def stop(self) -> None:
        """Tell the job the worker is shutting down."""
        self.stopping.set()
        self.any.set()


@dataclass
class JobContext:
    """The handle a handler uses for everything it writes about its job (always fenced)."""

    db: Database
    clock: Clock
    fence: Fence
    kind: str
    params: BaseModel
    checkpoint: dict[str, Any] | None
    trigger: str
    log_cap: int = 5000
    signals: StopSignals = field(default_factory=StopSignals)
    _lines: int = 0

    @property
    def job_id(self) -> int:
        """Return the job's id."""
        return self.fence.job_id

    @property
    def attempt(self) -> int:
        """Return this attempt's number (1 for the first run)."""
        return self.fence.attempt

    def should_stop(self) -> bool:
        """Tell whether the job was cancelled, taken away, or the worker is stopping."""
        return self.signals.any.is_set()

    def check(self) -> None:
        """Raise JobLost, CancelRequested or WorkerStopping when the job must stop now."""
        if self.signals.lost.is_set():
            raise JobLost()
        if self.signals.cancel.is_set():
            raise CancelRequested()
        if self.signals.stopping.is_set():
            raise WorkerStopping()

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less when the job must stop (then raise as `check` does)."""
        if seconds > 0:
            self.signals.any.wait(seconds)
        self.check()

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one unit of work, waiting out database outages."""
        return resilient(self.db, work, self.signals.stopping.wait, f"job {self.job_id}")

    def log(self, message: str, level: str = "info", stream: str = "job") -> None:
        """Append a line to the job's log (dropped silently if the job was taken away)."""
        self.transaction(lambda session: self._write_line(session, stream, level, message))

    def _write_line(self, session: Session, stream: str, level: str, message: str) -> None:
        store = JobStore(session)
        if not store.fenced_log(self.fence, self.clock.now(), stream, level, message):
            self.signals.mark_lost()
            return
        self._lines += 1
        if self._lines % max(10, self.log_cap // 10) == 0:
            store.cap_logs(self.job_id, self.attempt, self.log_cap, self.clock.now())

    def report(
        self,
        progress: dict[str, Any],
        line: str | None = None,
        error_summary: dict[str, Any] | None = None,
    ) -> None:
        """Save the counters (and a progress line) in a transaction of their own."""

        def write(session: Session) -> None:
            row = JobStore(session).checkpoint(
                self.fence, self.clock.now(), progress, error_summary=error_summary
            )
            self._after_fenced(row)
            if line is not None and row is not None:
                self._write_line(session, "progress", "info", line)

        self.transaction(write)

    def batch(self, work: Callable[[Session], T]) -> T:
        """Run a batch's unit of work with the job's row held first, or raise JobLost.

        The fence is checked before `work` writes anything: a worker taken away while it
        was stopped would otherwise insert rows its rescuer already inserted and fail on a
        unique key, hiding why. The row stays locked to the end of the transaction, so the
        closing `commit_batch` cannot find the job gone.
        """

        def fenced(session: Session) -> T:
            row = JobStore(session).hold(self.fence, self.clock.now())
            self._after_fenced(row)
            if row is None:
                raise JobLost()
            return work(session)

        return self.transaction(fenced)

    def commit_batch(
        self,
        session: Session,
        progress: dict[str, Any],
        checkpoint: dict[str, Any],
        error_summary: dict[str, Any] | None = None,
    ) -> None:
        """Save counters and checkpoint inside the unit of work of `batch`, or raise JobLost.

        If the job was taken away, the raise rolls the whole batch back, so a fenced-out
        worker changes nothing.
        """
        row = JobStore(session).checkpoint(
            self.fence, self.clock.now(), progress, checkpoint, error_summary
        )
        self._after_fenced(row)
        if row is None:
            raise JobLost()
        self.checkpoint = checkpoint

    def _after_fenced(self, row: Job | None) -> None:
        if row is None:
            self.signals.mark_lost()
        elif row.cancel_requested_at is not None:
            self.signals.request_cancel()
