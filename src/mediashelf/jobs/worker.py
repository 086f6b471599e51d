"""A worker process's engine: claim loop, pulse thread (heartbeat, cancels), runner threads.

Liveness belongs to the pulse thread, and it vouches only for jobs whose runner is executing
right now: a long batch never looks like a dead worker, and a job whose runner died is not
kept alive by the heartbeat (it is requeued, or rescued once its lease runs out). Database
outages are waited out with backoff; the worker carries on by itself when the database is back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from mediashelf import __version__
from mediashelf.clock import Clock
from mediashelf.config import Settings
from mediashelf.db.outage import describe
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
from mediashelf.jobs.resilience import is_outage
from mediashelf.jobs.runner import JobRunner, RetryPolicy
from mediashelf.jobs.store import Fence, JobStore, lease_cutoff

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0
CANCEL_POLL_S = 0.5  # how soon a cancel sent from another process reaches a running job
MAX_IDLE_BACKOFF_S = 5.0


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
    private_paths: tuple[str, ...] = ()  # server folders scrubbed from user-facing job text

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
            private_paths=private_paths(settings),
        )


@dataclass
class Running:
    """A job this worker's runner threads are executing."""

    job: Job
    fence: Fence
    signals: StopSignals
    future: Future[str] | None = None
    beside: bool = False  # a parent's look-in, run beside the busy slots

    @property
    def alive(self) -> bool:
        """Tell whether its runner is still executing it."""
        return self.future is None or not self.future.done()


def private_paths(settings: Settings) -> tuple[str, ...]:
    """Return the server folders job text must not show (as given and resolved)."""
    folders = [settings.library, settings.data_dir]
    found = {str(f) for f in folders if f} | {str(f.resolve()) for f in folders if f}
    return tuple(sorted(found))


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
        self.runner = JobRunner(
            db, registry, clock, self.id, config.retry, config.log_cap,
            private=config.private_paths,
        )  # fmt: skip
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="job")
        self._beside = ThreadPoolExecutor(1, thread_name_prefix="look-in")
        self._running: dict[int, Running] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ended = threading.Event()  # a job run here just ended (followers stop waiting)
        self._threads: list[threading.Thread] = []
        self._outage: set[str] = set()  # loops currently waiting out a database outage
        self._recovered_at = float("-inf")  # when the database last came back (monotonic)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Register the worker and start its claim and pulse threads."""
        self._register()
        for target, name in ((self._loop, "claim"), (self._pulse_loop, "pulse")):
            thread = threading.Thread(target=target, name=f"worker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("Worker %s started (concurrency %d)", self.id, self.config.concurrency)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, ask running jobs to requeue themselves, and wait for them."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            for running in self._running.values():
                running.signals.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._beside.shutdown(wait=True, cancel_futures=True)
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

    def wait_for_job_end(self, timeout: float) -> None:
        """Return when a job run by this worker ends, or after `timeout` seconds.

        A hint for followers in the same process (`mediashelf scan`), who then read the job
        again: they see the end at once instead of at their next poll.
        """
        if self._ended.wait(timeout):
            self._ended.clear()

    def cancel_local(self, job_id: int) -> None:
        """Pass a cancel request to a job running in this process at once."""
        with self._lock:
            running = self._running.get(job_id)
        if running is not None:
            running.signals.request_cancel()

    def running_ids(self) -> list[int]:
        """Return the ids of the jobs this worker's runners are executing."""
        with self._lock:
            return [job_id for job_id, r in self._running.items() if r.alive]

    def _register(self) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as session:
            JobStore(session).register_worker(
                WorkerRow(
                    id=self.id, host=socket.gethostname(), pid=os.getpid(), started_at=now,
                    heartbeat_at=now, concurrency=self.config.concurrency, version=__version__,
                )
            )  # fmt: skip

    # -- claim loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        last: dict[str, float] = {}
        idle = self.config.poll_s
        while not self._stop.is_set():
            if self._guarded("claim", self._claim_and_submit):
                idle = self.config.poll_s
            else:
                idle = min(MAX_IDLE_BACKOFF_S, max(idle * 2, self.config.poll_s))
            self._housekeeping(last)
            self._wake.wait(idle)
            self._wake.clear()

    def _guarded(self, what: str, step: Callable[[], object]) -> bool:
        """Run one step of a loop; log its failure once per outage and say whether it worked."""
        try:
            step()
        except Exception as exc:
            if not is_outage(exc):
                log.exception("Worker %s: %s failed", self.id, what)
            elif what not in self._outage:
                log.warning("Worker %s: %s waits for the database (%s)", self.id, what,
                            describe(exc))  # fmt: skip
            if is_outage(exc):
                self._outage.add(what)
            return False
        if what in self._outage:
            self._outage.discard(what)
            self._recovered_at = time.monotonic()
            log.info("Worker %s: %s works again: the database is back", self.id, what)
        return True

    def _claim_and_submit(self) -> None:
        """Fill the free slots; with none left, take one due look-in of a waiting parent.

        A parent waiting for its children (a fanned-out scan) only looks in on them: a query
        and a progress line. In a slot it waited behind every pending child, since those were
        queued first, so its progress and log stood still until the last child had started.
        """
        with self._lock:
            free = self.config.concurrency - sum(not r.beside for r in self._running.values())
            looking = any(r.beside for r in self._running.values())
        if self._stop.is_set() or (free <= 0 and looking):
            return
        names, now = self.registry.names(), self.clock.now()
        with self.db.unit_of_work() as session:
            store = JobStore(session)
            jobs = store.claim(self.id, free, now, names) if free > 0 else []
            full = len(jobs) >= free
            look_in = full and not looking and store.look_in_due(now, names)
            beside = store.claim(self.id, 1, now, names, look_ins_only=True) if look_in else []
        for job in jobs:
            self._submit(job, beside=False)
        for job in beside:
            self._submit(job, beside=True)

    def _submit(self, job: Job, beside: bool) -> None:
        running = Running(job, Fence(job.id, job.attempt, self.id), StopSignals(), beside=beside)
        if job.cancel_requested_at is not None:
            running.signals.request_cancel()
        with self._lock:
            self._running[job.id] = running
        executor = self._beside if beside else self._pool
        running.future = executor.submit(self.runner.run, job, running.signals)
        running.future.add_done_callback(partial(self._done, running))

    def _done(self, running: Running, future: Future[str]) -> None:
        exc = None if future.cancelled() else future.exception()
        if exc is not None:  # the runner itself died: record it so the job is never stranded
            log.error("Runner crashed on job %s", running.job.id, exc_info=exc)
            try:
                self.runner.fail_crashed(running.job, running.fence, running.signals, exc)
            except Exception:
                log.exception("Job %s is left for the reaper", running.job.id)
        with self._lock:  # a retry of the job may already run here under its next attempt
            if self._running.get(running.job.id) is running:
                del self._running[running.job.id]
        self._ended.set()
        self._wake.set()

    def _housekeeping(self, last: dict[str, float]) -> None:
        """Run each due housekeeping step; one failing step never skips the others."""
        steps: list[tuple[str, float, Callable[[], object]]] = [
            ("reap", max(0.5, self.config.lease_s / 3), self._reap),
            ("schedule", 1.0, self._fire_schedules),
            ("prune jobs", PRUNE_EVERY_S, self._prune_jobs),
            ("prune workers", PRUNE_EVERY_S, self._prune_workers),
        ]
        now = time.monotonic()
        for name, every_s, step in steps:
            if name == "schedule" and not self.config.schedules:
                continue
            if now - last.get(name, -every_s) >= every_s:
                last[name] = now
                self._guarded(name, step)

    def _reap(self) -> None:
        self._heartbeat()  # vouch for our own jobs first: after an outage every lease looks old
        if time.monotonic() - self._recovered_at < self.config.lease_s:
            return  # other workers coming back from the same outage get one lease to beat
        if reap_silent_jobs(self.db, self.clock, self.config.lease_s):
            self._wake.set()

    def _fire_schedules(self) -> None:
        if fire_schedules(self.db, self.registry, self.clock, self.config.schedules):
            self._wake.set()

    def _prune_jobs(self) -> None:
        prune_finished_jobs(self.db, self.clock, self.config.retention_days)

    def _prune_workers(self) -> None:
        with self.db.unit_of_work() as session:  # workers gone for good (killed, moved)
            JobStore(session).prune_workers(lease_cutoff(self.clock.now(), PRUNE_EVERY_S))

    # -- pulse: heartbeat and cancel watch ------------------------------------------------

    def _pulse_loop(self) -> None:
        tick = min(CANCEL_POLL_S, self.config.heartbeat_s)
        last_beat = time.monotonic()
        while not self._stop.wait(tick):
            if time.monotonic() - last_beat >= self.config.heartbeat_s:
                if self._guarded("heartbeat", self._heartbeat):
                    last_beat = time.monotonic()
            elif self.running_ids():
                self._guarded("cancel watch", self._watch_cancels)

    def _heartbeat(self) -> None:
        with self._lock:
            held = {r.job.id: r for r in self._running.values() if r.alive}
        with self.db.unit_of_work() as session:
            store = JobStore(session)
            known = store.touch_worker(self.id, self.clock.now())  # may wait for SQLite's lock
            beats = store.heartbeat([r.fence for r in held.values()], self.clock.now())
        if not known:  # pruned while this process could not reach the database
            self._register()
        renewed = {beat.job_id for beat in beats}
        for job_id, running in held.items():
            if job_id not in renewed:
                running.signals.mark_lost()
        for beat in beats:
            if beat.cancel_requested:
                held[beat.job_id].signals.request_cancel()

    def _watch_cancels(self) -> None:
        with self._lock:
            held = {r.job.id: r for r in self._running.values() if r.alive}
        with self.db.unit_of_work() as session:
            cancelled = JobStore(session).cancel_requested(list(held))
        for job_id in cancelled:
            held[job_id].signals.request_cancel()
