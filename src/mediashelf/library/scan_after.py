"""The start-up scan, owed: asked for once the scan that was in its way has ended.

A service starts with an incremental scan of the whole library, which finds what changed
while nothing ran. When another scan is active then (a scan of one folder, or the scan the
last stop interrupted, which resumes after its checkpoint and never looks at the files before
it again), that scan cannot stand in for it. In watch mode the watcher's queue waits for it;
without watch mode this thread does.
"""

from __future__ import annotations

import logging
import threading

from mediashelf.clock import Clock
from mediashelf.db.session import Database
from mediashelf.errors import ConflictingJob
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.states import ACTIVE
from mediashelf.jobs.store import JobStore
from mediashelf.library.scan_request import request_scan

log = logging.getLogger(__name__)


class ScanAfter:
    """A thread that asks for a whole-library scan once job `job_id` (and any scan after it
    that is in the way) has ended."""

    def __init__(
        self, db: Database, registry: Registry, clock: Clock, job_id: int, poll_s: float,
        actor: str,
    ) -> None:  # fmt: skip
        self.db, self.registry, self.clock = db, registry, clock
        self.job_id, self.poll_s, self.actor = job_id, poll_s, actor
        self.requested: int | None = None  # the scan asked for, once it is
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scan-after", daemon=True)

    def start(self) -> None:
        """Start waiting."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop waiting (the service stops: its next start owes the scan again)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                if self._try():
                    return
            except Exception as exc:  # the database is away: the next poll tries again
                log.warning("could not ask for the start-up scan yet (%s)", type(exc).__name__)

    def _try(self) -> bool:
        """Ask for the scan when the job in its way has ended; tell whether it was asked for."""
        with self.db.unit_of_work() as session:
            job = JobStore(session).get(self.job_id)
            if job is not None and job.status in ACTIVE:
                return False
            try:
                request = request_scan(session, self.registry, self.clock, {}, trigger="cli",
                                       actor=self.actor)  # fmt: skip
            except ConflictingJob as exc:  # yet another scan: wait for that one
                self.job_id = exc.job_id
                return False
        self.requested = request.job_id
        log.info("the start-up scan, owed since another scan was in its way, is job %d",
                 request.job_id)  # fmt: skip
        return True
