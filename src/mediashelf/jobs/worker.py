"""A worker process's engine: claim loop, heartbeat thread, handler threads, housekeeping.

Liveness is the heartbeat thread's job alone, so a long batch never looks like a dead worker
and a stopped or killed process always does: rescue depends on silence, not on run time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from mediashelf import __version__
from mediashelf.clock import Clock
from mediashelf.config import Settings
from mediashelf.db.schema import Job
from mediashelf.db.schema import Worker as WorkerRow
from mediashelf.db.session import Database
from mediashelf.jobs.context import StopSignals
from mediashelf.jobs.maintenance import (
    Schedule,
    fire_schedules,
    prune_finished_jobs,
    reap_silent_jobs,
)
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.runner import JobRunner, RetryPolicy
from mediashelf.jobs.store import JobStore, lease_cutoff

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0


@dataclass(frozen=True)
class WorkerConfig:
    """Timing and capacity of one worker."""

    concurrency: int = 2
    heartbeat_s: float = 5.0
    lease_s: float = 30.0
    poll_s: float = 1.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    log_cap: int = 5000
    retention_days: int = 30
    schedules: tuple[Schedule, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, schedules: Sequence[Schedule] = ()) -> WorkerConfig:
        """Build the worker's configuration from Settings."""
        return cls(
            concurrency=settings.worker_concurrency,
            heartbeat_s=settings.heartbeat_s,
            lease_s=settings.lease_s,
            poll_s=settings.poll_s,
            retry=RetryPolicy(settings.job_retry_base_s, settings.job_retry_max_s),
            log_cap=settings.job_log_cap,
            retention_days=settings.job_retention_days,
            schedules=tuple(schedules),
        )


def new_worker_id() -> str:
    """Return an id naming this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims and runs jobs until stopped."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        clock: Clock,
        config: WorkerConfig,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.config = config
        self.id = worker_id or new_worker_id()
        self.runner = JobRunner(db, registry, clock, self.id, config.retry, config.log_cap)
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="job")
        self._running: dict[int, StopSignals] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Register the worker and start its loop and heartbeat threads."""
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            JobStore(session).register_worker(
                WorkerRow(
                    id=self.id, host=socket.gethostname(), pid=os.getpid(), started_at=now,
                    heartbeat_at=now, concurrency=self.config.concurrency, version=__version__,
                )
            )  # fmt: skip
        for target, name in ((self._loop, "claim"), (self._heartbeat_loop, "heartbeat")):
            thread = threading.Thread(target=target, name=f"worker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("Worker %s started (concurrency %d)", self.id, self.config.concurrency)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, ask running jobs to requeue themselves, and wait for them."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            for signals in self._running.values():
                signals.stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout)
        try:
            with self.db.unit_of_work() as session:
                JobStore(session).remove_worker(self.id)
        except Exception:
            log.warning("Could not deregister worker %s", self.id)
        log.info("Worker %s stopped", self.id)

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    # -- threads --------------------------------------------------------------------------

    def _loop(self) -> None:
        last: dict[str, float] = {}
        while not self._stop.is_set():
            try:
                self._claim_and_submit()
                self._housekeeping(last)
            except Exception:
                log.exception("Worker loop error; retrying")
            self._wake.wait(self.config.poll_s)
            self._wake.clear()

    def _claim_and_submit(self) -> None:
        with self._lock:
            free = self.config.concurrency - len(self._running)
        if free <= 0:
            return
        with self.db.unit_of_work() as session:
            jobs = JobStore(session).claim(self.id, free, self.clock.now(), self.registry.names())
        for job in jobs:
            signals = StopSignals()
            if job.cancel_requested_at is not None:
                signals.cancel.set()
            with self._lock:
                self._running[job.id] = signals
            future = self._pool.submit(self.runner.run, job, signals)
            future.add_done_callback(partial(self._done, job))

    def _done(self, job: Job, future: Future[str]) -> None:
        with self._lock:
            self._running.pop(job.id, None)
        if future.exception():
            log.error("Runner crashed on job %s", job.id, exc_info=future.exception())
        self._wake.set()

    def _housekeeping(self, last: dict[str, float]) -> None:
        now = time.monotonic()
        if now - last.get("reap", 0) >= max(0.5, self.config.lease_s / 3):
            last["reap"] = now
            if reap_silent_jobs(self.db, self.clock, self.config.lease_s):
                self._wake.set()
        if self.config.schedules and now - last.get("schedule", 0) >= 1.0:
            last["schedule"] = now
            if fire_schedules(self.db, self.registry, self.clock, self.config.schedules):
                self._wake.set()
        if now - last.get("prune", 0) >= PRUNE_EVERY_S:
            last["prune"] = now
            prune_finished_jobs(self.db, self.clock, self.config.retention_days)
            with self.db.unit_of_work() as session:  # workers gone for good (killed, moved)
                JobStore(session).prune_workers(lease_cutoff(self.clock.now(), PRUNE_EVERY_S))

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.config.heartbeat_s):
            try:
                self._heartbeat()
            except Exception:
                log.exception("Heartbeat failed")

    def _heartbeat(self) -> None:
        with self._lock:
            before = dict(self._running)  # jobs claimed later are not judged by this beat
        with self.db.unit_of_work() as session:
            alive = JobStore(session).heartbeat(self.id, self.clock.now())
        cancelled = {job_id for job_id, _attempt, cancel in alive if cancel is not None}
        held = {job_id for job_id, _attempt, _cancel in alive}
        for job_id, signals in before.items():
            if job_id not in held:
                signals.lost.set()
            elif job_id in cancelled:
                signals.cancel.set()
