"""What a running job's handler sees: its params, checkpoint, logs, progress and stop signals."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from mediashelf.clock import Clock
from mediashelf.db.session import Database
from mediashelf.errors import JobCancelled, JobLost, MediashelfError
from mediashelf.jobs.store import Fence, JobStore

log = logging.getLogger(__name__)


class WorkerStopping(MediashelfError):
    """The worker is shutting down; the job goes back to the queue."""


@dataclass
class StopSignals:
    """Flags the worker's threads raise for a running job."""

    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)


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
        s = self.signals
        return s.cancel.is_set() or s.lost.is_set() or s.stopping.is_set()

    def check(self) -> None:
        """Raise JobLost, JobCancelled or WorkerStopping when the job must stop now."""
        if self.signals.lost.is_set():
            raise JobLost()
        if self.signals.cancel.is_set():
            raise JobCancelled()
        if self.signals.stopping.is_set():
            raise WorkerStopping()

    def log(self, message: str, level: str = "info", stream: str = "job") -> None:
        """Append a line to the job's log (dropped silently if the job was taken away)."""
        with self.db.unit_of_work() as session:
            self._write_line(session, stream, level, message)

    def _write_line(self, session: Session, stream: str, level: str, message: str) -> None:
        store = JobStore(session)
        if not store.fenced_log(self.fence, self.clock.now(), stream, level, message):
            self.signals.lost.set()
            return
        self._lines += 1
        if self._lines % max(10, self.log_cap // 10) == 0:
            store.cap_logs(self.job_id, self.attempt, self.log_cap, self.clock.now())

    def report(
        self, progress: dict[str, Any], line: str | None = None, session: Session | None = None
    ) -> None:
        """Save the counters (and a progress line) in `session` or in a transaction of its own."""
        if session is None:
            with self.db.unit_of_work() as own:
                self._report(own, progress, line)
        else:
            self._report(session, progress, line)

    def _report(self, session: Session, progress: dict[str, Any], line: str | None) -> None:
        row = JobStore(session).fenced_update(self.fence, progress=progress)
        self._after_fenced(row)
        if line is not None:
            self._write_line(session, "progress", "info", line)

    def commit_batch(
        self, session: Session, progress: dict[str, Any], checkpoint: dict[str, Any]
    ) -> None:
        """Save counters and checkpoint in the batch's own transaction, or raise JobLost.

        Called inside the unit of work that applied the batch: if the job was taken away,
        the raise rolls the whole batch back, so a fenced-out worker changes nothing.
        """
        row = JobStore(session).fenced_update(
            self.fence, progress=progress, checkpoint=checkpoint, heartbeat_at=self.clock.now()
        )
        self._after_fenced(row)
        if row is None:
            raise JobLost()
        self.checkpoint = checkpoint

    def _after_fenced(self, row: Any) -> None:
        if row is None:
            self.signals.lost.set()
        elif row.cancel_requested_at is not None:
            self.signals.cancel.set()
