"""Watching a job from the terminal: its progress drawn on a JobProgress bar until it ends."""

from __future__ import annotations

import time
from functools import partial

from mediashelf.cli.display import JobProgress
from mediashelf.db.schema import Job
from mediashelf.jobs.resilience import resilient
from mediashelf.jobs.service import get_job, live_workers
from mediashelf.jobs.states import FINISHED
from mediashelf.runtime import Runtime

TERMINAL = FINISHED


def snapshot(runtime: Runtime, job_id: int) -> Job:
    """Return a fresh copy of the job, waiting out a database outage."""
    return resilient(runtime.db, partial(get_job, job_id=job_id), _pause, f"following job {job_id}")


def _pause(seconds: float) -> bool:
    time.sleep(seconds)
    return False


ADOPT_CHECK_S = 2.0  # how often a follower without a worker asks whether any worker lives


def workers_alive(runtime: Runtime) -> bool:
    """Tell whether any worker (of any process, on any host) heartbeated within the lease."""
    with runtime.db.unit_of_work() as session:
        return bool(live_workers(session, runtime.clock, runtime.settings.lease_s))


def follow_job(runtime: Runtime, job_id: int, bar: JobProgress, poll_s: float = 0.1) -> Job:
    """Draw the job's progress on `bar` until it ends; return the finished job.

    A quiet bar (nothing drawn) reads the job less often; a local job's end still wakes us
    at once, and the CPU is left to the scan. Following another process's job, we start a
    worker here once no worker is alive any more (the one running it was killed): its
    reaper rescues the job when the lease has run out and runs it on from its checkpoint,
    where the command used to follow a job nobody ran, forever.
    """
    next_check = time.monotonic() + ADOPT_CHECK_S
    while True:
        job = snapshot(runtime, job_id)
        bar.show(job.status, job.progress)
        if job.status in TERMINAL:
            return job
        if runtime.worker is None and time.monotonic() >= next_check:
            next_check = time.monotonic() + ADOPT_CHECK_S
            if not workers_alive(runtime):
                runtime.start_worker()
        runtime.wait_for_job_end(poll_s if bar.drawn else poll_s * 5)
