"""Scopes waiting for a watch scan: asked for one at a time, never dropped for a scan in the way.

Only one library scan runs at a time (their unique key), so the queue asks for its first
scope, waits for that job to end, then asks for the next. Another scan in the way
(`ConflictingJob`, or an identical scan that already started walking and may have passed the
changed folders) keeps the scope pending until that job has ended. A failed watch scan is
asked for again after `retry_s`; a cancelled one is dropped (someone decided against it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mediashelf.clock import Clock
from mediashelf.db.session import Database
from mediashelf.errors import ConflictingJob, InvalidJobRequest, JobNotFound
from mediashelf.jobs.registry import Registry
from mediashelf.jobs.service import get_job
from mediashelf.jobs.states import ACTIVE, JobStatus
from mediashelf.library.scan_request import request_scan
from mediashelf.library.watch_scopes import MAX_SCOPES, parent, plan_scopes

log = logging.getLogger(__name__)

TRIGGER = ACTOR = "watch"
OUTAGE_RETRY_S = 5.0


@dataclass(frozen=True)
class Waiting:
    """A job the queue waits for: one of its own (with its scope) or another that is in the way."""

    job_id: int
    scope: str | None  # None: not ours
    missing_seen: int = 0  # the deletions its parameters allow for


def scan_params(scope: str, events: bool, missing_seen: int = 0) -> dict[str, object]:
    """Return the scan parameters for `scope` ("" is the whole library).

    A sub-folder scan asked for by events may mark all of its folder missing: the deletions
    were seen, and a scoped scan cannot take the whole library with it. Whole-library scans
    (polling, or changes everywhere) keep the mass-missing brake, loosened by the deletions
    events saw (`missing_seen`): a deleted top-level folder, or a deletion and an addition
    in different top-level folders, is a whole-library scan, which the brake stopped again
    and again while later changes waited behind it.
    """
    if not scope:
        return {"missing_seen": missing_seen} if events and missing_seen else {}
    return {"path": scope, "allow_mass_missing": events}


class ScanQueue:
    """Pending scopes and the one job they wait for."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        clock: Clock,
        *,
        events: bool,
        retry_s: float,
        on_enqueued: Callable[[], None] | None = None,
    ) -> None:
        self.db, self.registry, self.clock = db, registry, clock
        self.events, self.retry_s, self.on_enqueued = events, retry_s, on_enqueued
        self.pending: list[str] = []
        self.missing_seen = 0  # deletions events saw in the pending scopes
        self.waiting: Waiting | None = None
        self.retry_at = 0.0
        self.enqueued: list[int] = []  # ids of the jobs this queue created, oldest first
        self._told: set[int] = set()

    @property
    def idle(self) -> bool:
        """Tell whether nothing is pending and no job is awaited."""
        return not self.pending and self.waiting is None

    def add(self, scopes: list[str], missing_seen: int = 0) -> None:
        """Queue `scopes` (with the deletions events saw in them), merged with those pending."""
        self.pending = plan_scopes([*self.pending, *scopes], MAX_SCOPES)
        self.missing_seen += missing_seen

    def step(self, now: float) -> None:
        """Move on: notice the awaited job's end, then ask for the next scope when free."""
        if now < self.retry_at:  # after a failed scan, or while the database is away
            return
        if self.waiting is not None:
            status = self._status(self.waiting.job_id)
            if status in ACTIVE:
                return
            self._ended(self.waiting, status, now)
            self.waiting = None
            if now < self.retry_at:  # it failed: not again in this same step
                return
        if self.pending:
            self._request(self.pending[0])

    def _status(self, job_id: int) -> JobStatus:
        try:
            with self.db.unit_of_work() as session:
                return JobStatus(get_job(session, job_id).status)
        except JobNotFound:  # pruned long after it ended
            return JobStatus.COMPLETED

    def _ended(self, waiting: Waiting, status: JobStatus, now: float) -> None:
        if waiting.scope is None:
            log.info("watch: job %d is over; scanning the changes now", waiting.job_id)
            return
        shown = waiting.scope or "the whole library"
        if status is JobStatus.FAILED:
            log.warning("watch: scan job %d of %s failed; asking again in %gs",
                        waiting.job_id, shown, self.retry_s)  # fmt: skip
            self.add([waiting.scope], waiting.missing_seen)
            self.retry_at = now + self.retry_s
        elif status is JobStatus.CANCELLED:
            log.warning("watch: scan job %d of %s was cancelled; its changes wait for the next "
                        "scan that covers them", waiting.job_id, shown)  # fmt: skip

    def _request(self, scope: str) -> None:
        try:
            with self.db.unit_of_work() as session:
                seen = self.missing_seen if not scope else 0
                request = request_scan(
                    session, self.registry, self.clock, scan_params(scope, self.events, seen),
                    trigger=TRIGGER, actor=ACTOR,
                )  # fmt: skip
                started = request.joined and get_job(session, request.job_id).status != "pending"
        except ConflictingJob as exc:
            self._in_the_way(exc.job_id, "another library scan is active")
            return
        except InvalidJobRequest as exc:  # the folder went away since: scan the one above it
            if not scope:
                log.error("watch: cannot ask for a scan of the library: %s", exc.message)
                self.pending.pop(0)
                return
            self.pending[0] = parent(scope)
            self.add([])
            return
        if started:  # an identical scan is already walking: it may have passed our folders
            self._in_the_way(request.job_id, "an identical scan started before these changes")
            return
        self.pending.pop(0)
        self.waiting = Waiting(request.job_id, scope, seen)
        if not scope or not self.pending:  # every deletion seen is in a requested scan now
            self.missing_seen = 0
        if not request.joined:
            self.enqueued.append(request.job_id)
            log.info("watch: scan job %d for %s", request.job_id, scope or "the whole library")
        if self.on_enqueued is not None:
            self.on_enqueued()

    def _in_the_way(self, job_id: int, why: str) -> None:
        self.waiting = Waiting(job_id, None)
        if job_id not in self._told:
            self._told.add(job_id)
            log.info("watch: %s (job %d); the changes wait for it to end", why, job_id)
