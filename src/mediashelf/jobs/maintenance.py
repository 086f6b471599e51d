"""Engine housekeeping any worker may run: rescue silent jobs, fire schedules, prune old jobs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter

from mediashelf.clock import Clock
from mediashelf.db.session import Database
from mediashelf.errors import ConfigError, DuplicateJob
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.service import create_job
from mediashelf.jobs.store import JobStore, lease_cutoff

log = logging.getLogger(__name__)

FIRE_WINDOW_S = 60.0
KEEP_LAST_PER_KIND = 50


def reap_silent_jobs(db: Database, clock: Clock, lease_s: float) -> int:
    """Requeue (or fail, when attempts are spent) running jobs whose worker fell silent."""
    now = clock.now()
    before = lease_cutoff(now, lease_s)
    rescued = 0
    with db.unit_of_work() as session:
        store = JobStore(session)
        for job in store.silent_running(before):
            message = f"interrupted: worker {job.worker_id} silent for more than {lease_s:g}s"
            entry = {"attempt": job.attempt, "at": now.isoformat(), "error": message,
                     "class": "WorkerLost", "worker": job.worker_id}  # fmt: skip
            values: dict[str, Any] = {"errors": [*job.errors, entry], "error": message}
            if job.attempt < job.max_attempts:
                values |= {"status": "pending", "worker_id": None, "run_at": now}
            else:
                values |= {"status": "failed", "finished_at": now, "summary": f"Failed: {message}"}
            if store.release(job, before, **values):
                store.log(job.id, job.attempt, now, "warning", f"{message}; {values['status']}")
                rescued += 1
    return rescued


@dataclass(frozen=True)
class Schedule:
    """A cron expression that enqueues one kind of job."""

    name: str
    expression: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ConfigError(f"invalid cron expression for {self.name}: {self.expression!r}")

    def latest_slot(self, now: datetime) -> datetime:
        """Return the most recent fire time at or before `now`."""
        slot: datetime = croniter(self.expression, now).get_prev(datetime)
        return slot


def fire_schedules(
    db: Database, registry: Registry, clock: Clock, schedules: Sequence[Schedule]
) -> list[int]:
    """Enqueue each schedule's current slot once, however many workers call this."""
    now = clock.now()
    enqueued: list[int] = []
    for schedule in schedules:
        slot = schedule.latest_slot(now)
        if (now - slot).total_seconds() > FIRE_WINDOW_S:
            continue
        with db.unit_of_work() as session:
            store = JobStore(session)
            if not store.record_fire(schedule.name, slot, now):
                continue
            try:
                job = create_job(
                    session, registry, clock, kind=schedule.kind, params=schedule.params,
                    trigger="schedule", actor="schedule",
                )  # fmt: skip
            except DuplicateJob as exc:
                log.info("Schedule %s at %s: job %s still active", schedule.name, slot, exc.job_id)
                continue
            store.set_fire_job(schedule.name, slot, job.id)
            enqueued.append(job.id)
    return enqueued


def prune_finished_jobs(db: Database, clock: Clock, days: int, batch: int = 500) -> int:
    """Delete finished jobs older than `days` (keeping the newest of each kind), in batches."""
    before = clock.now() - timedelta(days=days)
    pruned = 0
    while True:
        with db.unit_of_work() as session:
            store = JobStore(session)
            ids = store.prunable(before, KEEP_LAST_PER_KIND, batch)
            store.delete_jobs(ids)
        pruned += len(ids)
        if len(ids) < batch:
            return pruned
