"""Engine housekeeping any worker may run: rescue silent jobs, fire schedules, prune old jobs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mediashelf.clock import Clock
from mediashelf.config import cron_error
from mediashelf.db.session import Database
from mediashelf.errors import ConfigError, JobConflict
from mediashelf.jobs.failures import attempt_record
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.service import create_job
from mediashelf.jobs.store import JobStore, lease_cutoff

log = logging.getLogger(__name__)

FIRE_WINDOW_S = 60.0
KEEP_LAST_PER_KIND = 50


def reap_silent_jobs(db: Database, clock: Clock, lease_s: float) -> int:
    """Rescue running jobs whose worker fell silent: requeue, fail (attempts spent) or cancel."""
    now = clock.now()
    before = lease_cutoff(now, lease_s)
    rescued = 0
    with db.unit_of_work() as session:
        store = JobStore(session)
        for job in store.silent_running(before):
            message = f"interrupted: worker {job.worker_id} silent for more than {lease_s:g}s"
            record = attempt_record(job.attempt, now, "WorkerLost", message, job.worker_id)
            status = store.rescue(job, before, now, record)
            if status is not None:
                store.log(job.id, job.attempt, now, "warning", f"{message}; now {status}")
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
        problem = cron_error(self.expression)
        if problem:
            raise ConfigError(f"schedule {self.name}: {problem}")

    def latest_slot(self, now: datetime) -> datetime:
        """Return the most recent fire time at or before `now`."""
        from croniter import croniter  # only with a schedule: 0.04 s of every command's start

        slot: datetime = croniter(self.expression, now).get_prev(datetime)
        return slot


def fire_schedules(
    db: Database, registry: Registry, clock: Clock, schedules: Sequence[Schedule]
) -> list[int]:
    """Enqueue each schedule's current slot once, however many workers call this.

    A failing schedule is logged and skipped; the others still fire.
    """
    enqueued: list[int] = []
    for schedule in schedules:
        try:
            job_id = _fire(db, registry, clock, schedule)
        except Exception:
            log.exception("Schedule %s could not fire", schedule.name)
            continue
        if job_id is not None:
            enqueued.append(job_id)
    return enqueued


def _fire(db: Database, registry: Registry, clock: Clock, schedule: Schedule) -> int | None:
    now = clock.now()
    slot = schedule.latest_slot(now)
    if (now - slot).total_seconds() > FIRE_WINDOW_S:
        return None
    with db.unit_of_work() as session:
        store = JobStore(session)
        if not store.record_fire(schedule.name, slot, now):
            return None
        try:
            job = create_job(
                session, registry, clock, kind=schedule.kind, params=schedule.params,
                trigger="schedule", actor="schedule",
            )  # fmt: skip
        except JobConflict as exc:
            log.info("Schedule %s at %s skipped: %s", schedule.name, slot, exc.message)
            return None
        store.set_fire_job(schedule.name, slot, job.id)
        return job.id


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
