"""The job engine in one process (threads): claim, unique keys, retries, cancel, retry, logs,
retention, the reaper and fencing, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mediashelf.audit.store import AuditStore
from mediashelf.clock import Clock, FixedClock
from mediashelf.db.schema import AuditEvent, Job, JobLog
from mediashelf.db.session import Database
from mediashelf.errors import ConflictingJob, DuplicateJob, JobConflict, JobLost
from mediashelf.jobs.context import AwaitChildren, JobContext, StopSignals
from mediashelf.jobs.maintenance import KEEP_LAST_PER_KIND, prune_finished_jobs, reap_silent_jobs
from mediashelf.jobs.registry import JobOutcome
from mediashelf.jobs.runner import JobRunner, RetryPolicy
from mediashelf.jobs.service import cancel_job, create_job, get_job, retry_job
from mediashelf.jobs.store import Fence, JobStore
from mediashelf.runtime import Runtime
from mediashelf.web.job_schemas import JobOut
from tests.conftest import make_runtime, run_job, wait_for_job
from tests.jobs import kinds
from tests.jobs.kinds import SleepyParams
from tests.polling import wait_until

KINDS_MODULE = ("tests.jobs.kinds",)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DROPPED = re.compile(r"\[(\d+) earlier log lines dropped")


@pytest.fixture
def engine(database: Database) -> Iterator[Runtime]:
    """A runtime knowing only the test kinds; its worker (if started) stops after the test."""
    built = make_runtime(database, None, job_modules=KINDS_MODULE)
    yield built
    stop_worker(built)


def stop_worker(runtime: Runtime) -> None:
    """Stop the runtime's worker if one runs."""
    if runtime.worker is not None:
        runtime.worker.stop()
        runtime.worker = None


def enqueue(
    runtime: Runtime,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    priority: int = 0,
) -> int:
    """Create a job through the service and return its id."""
    with runtime.db.unit_of_work() as session:
        job = create_job(
            session, runtime.registry, clock or runtime.clock, kind=kind, params=params,
            priority=priority, trigger="cli", actor="test",
        )  # fmt: skip
        return job.id


def load(db: Database, job_id: int) -> Job:
    """Return the job as stored now."""
    with db.unit_of_work() as session:
        return get_job(session, job_id)


def claim(db: Database, worker_id: str, now: datetime, limit: int = 1) -> list[Job]:
    """Claim due jobs of any test kind for `worker_id`."""
    with db.unit_of_work() as session:
        return JobStore(session).claim(worker_id, limit, now, kinds_names())


def kinds_names() -> list[str]:
    """Return every test kind's name."""
    return [
        kinds.RECORD, kinds.FLAKY, kinds.PERMANENT, kinds.SLEEPY, kinds.CHATTY, kinds.SLOW_BATCH,
    ]  # fmt: skip


def log_lines(db: Database, job_id: int, stream: str | None = None) -> list[JobLog]:
    """Return the job's log lines, oldest first."""
    with db.unit_of_work() as session:
        return list(JobStore(session).logs(job_id, stream, 0, 100_000))


def audit(db: Database, action: str, job_id: int) -> list[AuditEvent]:
    """Return the audit events of `action` about `job_id`, oldest first."""
    with db.unit_of_work() as session:
        query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.job_id == job_id)
        return list(session.scalars(query.order_by(AuditEvent.id)))


def set_columns(db: Database, job_id: int, **values: Any) -> None:
    """Overwrite columns of one job (test set-up)."""
    with db.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


# -- claim and enqueue ------------------------------------------------------------------------


def test_claim_never_takes_more_than_its_limit(engine: Runtime) -> None:
    clock = FixedClock(T0)
    for _ in range(5):
        enqueue(engine, kinds.SLEEPY, clock=clock)
    assert len(claim(engine.db, "w1", T0, limit=1)) == 1
    assert len(claim(engine.db, "w2", T0, limit=2)) == 2


def test_claim_takes_priority_then_run_at_then_id(engine: Runtime) -> None:
    clock = FixedClock(T0)
    ids = {
        name: enqueue(engine, kinds.SLEEPY, clock=clock, priority=priority)
        for name, priority in (("a", 0), ("b", 5), ("c", 5), ("d", 0), ("later", 9))
    }
    run_at = {"a": -10, "b": -1, "c": -5, "d": -10, "later": 60}
    for name, offset in run_at.items():
        set_columns(engine.db, ids[name], run_at=T0 + timedelta(seconds=offset))

    order = []
    while claimed := claim(engine.db, "w1", T0):
        assert len(claimed) == 1
        order.append(claimed[0])
    assert [job.id for job in order] == [ids["c"], ids["b"], ids["a"], ids["d"]]
    first = order[0]
    assert (first.status, first.worker_id, first.attempt) == ("running", "w1", 1)
    assert first.started_at == T0
    assert first.heartbeat_at == T0

    assert claim(engine.db, "w1", T0 + timedelta(seconds=59)) == []  # not due yet
    due = claim(engine.db, "w2", T0 + timedelta(seconds=60), limit=5)
    assert [job.id for job in due] == [ids["later"]]


def test_claim_only_takes_the_kinds_asked_for(engine: Runtime) -> None:
    clock = FixedClock(T0)
    chatty = enqueue(engine, kinds.CHATTY, clock=clock)
    sleepy = enqueue(engine, kinds.SLEEPY, clock=clock)
    with engine.db.unit_of_work() as session:
        claimed = JobStore(session).claim("w1", 10, T0, [kinds.SLEEPY])
    assert [job.id for job in claimed] == [sleepy]
    assert load(engine.db, chatty).status == "pending"


def test_claim_batch_never_hands_a_job_out_twice(engine: Runtime) -> None:
    clock = FixedClock(T0)
    ids = {enqueue(engine, kinds.SLEEPY, clock=clock) for _ in range(7)}
    first = claim(engine.db, "w1", T0, limit=4)
    second = claim(engine.db, "w2", T0, limit=4)
    assert len(first) == 4
    assert len(second) == 3
    assert {job.id for job in first} | {job.id for job in second} == ids
    assert claim(engine.db, "w3", T0, limit=4) == []


def test_a_job_is_enqueued_with_its_unit_of_work_not_before(engine: Runtime) -> None:
    # enqueue guards its INSERT with a savepoint; on SQLite a savepoint that opened the
    # transaction committed when released, so a worker could claim the job (seen: a job
    # "parked" for tomorrow ran at once) before the rest of its unit of work had run.
    tomorrow = datetime.now(UTC) + timedelta(days=1)

    def stored(db: Database) -> list[int]:
        with db.unit_of_work() as session:
            return [job.id for job in session.query(Job)]

    with Database(engine.db.url) as other:
        with engine.db.unit_of_work() as session:
            job = create_job(session, engine.registry, engine.clock, kind=kinds.SLEEPY,
                             params={}, trigger="cli", actor="test")  # fmt: skip
            assert stored(other) == []  # not before its unit of work commits
            job.run_at = tomorrow
        assert stored(other) == [job.id]
        assert claim(other, "w1", datetime.now(UTC)) == []  # committed together: due tomorrow

        def enqueue_then_fail() -> None:
            with engine.db.unit_of_work() as session:
                create_job(session, engine.registry, engine.clock, kind=kinds.SLEEPY,
                           params={"key": "gone"}, trigger="cli", actor="test")  # fmt: skip
                raise RuntimeError("the unit of work fails after the enqueue")

        with pytest.raises(RuntimeError):
            enqueue_then_fail()
        assert stored(other) == [job.id]  # the second rolled back with its unit of work


def test_unique_key_refuses_a_duplicate_naming_the_active_job(engine: Runtime) -> None:
    first = enqueue(engine, kinds.SLEEPY, {"key": "library"})
    with pytest.raises(DuplicateJob) as pending_dup:  # an equivalent request joins it
        enqueue(engine, kinds.SLEEPY, {"key": "library", "steps": 10})
    assert pending_dup.value.job_id == first
    with pytest.raises(ConflictingJob) as different:  # a different one is refused by name
        enqueue(engine, kinds.SLEEPY, {"key": "library", "steps": 3})
    assert different.value.job_id == first
    assert f"job {first}" in different.value.message
    assert "key='library'" in different.value.message

    other = enqueue(engine, kinds.SLEEPY, {"key": "other"})  # another key is free
    keyless = [enqueue(engine, kinds.SLEEPY) for _ in range(2)]  # no key, no limit
    assert len({first, other, *keyless}) == 4

    set_columns(engine.db, first, status="running", worker_id="w1", attempt=1)
    with pytest.raises(DuplicateJob) as running_dup:
        enqueue(engine, kinds.SLEEPY, {"key": "library"})
    assert running_dup.value.job_id == first

    set_columns(engine.db, first, status="completed", finished_at=engine.clock.now())
    again = enqueue(engine, kinds.SLEEPY, {"key": "library"})  # finished jobs free the key
    assert again != first
    with engine.db.unit_of_work() as session:
        active = session.scalar(
            select(func.count()).where(
                Job.unique_key == "sleepy:library", Job.status.in_(("pending", "running"))
            )
        )
    assert active == 1


def test_params_are_checked_and_extra_keys_refused(engine: Runtime) -> None:
    from mediashelf.errors import InvalidJobRequest

    with pytest.raises(InvalidJobRequest, match="steps"):
        enqueue(engine, kinds.SLEEPY, {"steps": -1})
    with pytest.raises(InvalidJobRequest, match="bogus"):
        enqueue(engine, kinds.SLEEPY, {"bogus": 1})
    with pytest.raises(InvalidJobRequest, match="unknown job kind"):
        enqueue(engine, "no_such_kind")


# -- retries ------------------------------------------------------------------------------


def runner_for(engine: Runtime, clock: Clock, worker_id: str = "w1", seed: int = 7) -> JobRunner:
    """A runner with a 10 s base backoff and a seeded jitter."""
    return JobRunner(
        engine.db, engine.registry, clock, worker_id, RetryPolicy(base_s=10.0, max_s=600.0),
        log_cap=5000, rng=random.Random(seed),
    )  # fmt: skip


def run_once(engine: Runtime, runner: JobRunner, now: datetime) -> str:
    """Claim the one due job at `now` and run one attempt of it."""
    claimed = claim(engine.db, runner.worker_id, now)
    assert len(claimed) == 1, f"nothing due at {now}"
    return runner.run(claimed[0], StopSignals())


def test_retries_back_off_exponentially_then_succeed(engine: Runtime) -> None:
    clock = FixedClock(T0)
    runner = runner_for(engine, clock)
    job_id = enqueue(engine, kinds.FLAKY, {"succeed_on": 3}, clock=clock)

    delays = []
    for attempt in (1, 2):
        assert run_once(engine, runner, clock.now()) == "pending"
        job = load(engine.db, job_id)
        assert (job.status, job.attempt, job.worker_id) == ("pending", attempt, None)
        assert len(job.errors) == attempt  # one entry per failed attempt
        assert job.errors[-1]["attempt"] == attempt
        assert job.errors[-1]["class"] == "RuntimeError"
        assert f"attempt {attempt}" in job.errors[-1]["error"]
        delay = (job.run_at - clock.now()).total_seconds()
        delays.append(delay)
        assert claim(engine.db, "w1", clock.now()) == []  # run_at is in the future
        clock.set(job.run_at)

    base = 10.0
    assert base * 0.5 <= delays[0] <= base * 1.5
    assert base * 2 * 0.5 <= delays[1] <= base * 2 * 1.5

    assert run_once(engine, runner, clock.now()) == "completed"
    job = load(engine.db, job_id)
    assert (job.status, job.attempt) == ("completed", 3)
    assert job.summary == "flaky succeeded on attempt 3"
    assert [entry["attempt"] for entry in job.errors] == [1, 2]
    assert job.finished_at == clock.now()


def test_retries_stop_at_max_attempts(engine: Runtime) -> None:
    clock = FixedClock(T0)
    runner = runner_for(engine, clock)
    job_id = enqueue(engine, kinds.FLAKY, {"succeed_on": 99}, clock=clock)
    outcomes = []
    for _ in range(kinds.MAX_ATTEMPTS):
        outcomes.append(run_once(engine, runner, clock.now()))
        clock.set(load(engine.db, job_id).run_at)
    assert outcomes == ["pending", "pending", "failed"]
    job = load(engine.db, job_id)
    assert (job.status, job.attempt, job.max_attempts) == ("failed", 3, 3)
    assert [entry["attempt"] for entry in job.errors] == [1, 2, 3]
    assert job.error == "RuntimeError: flaky failure on attempt 3"
    assert job.summary == "Failed: RuntimeError: flaky failure on attempt 3"
    assert job.finished_at is not None
    assert claim(engine.db, "w1", clock.now() + timedelta(days=1)) == []


def test_worker_retries_a_flaky_job_until_it_succeeds(engine: Runtime) -> None:
    job = run_job(engine, kinds.FLAKY, {"succeed_on": 2}, timeout_s=30)
    assert (job.status, job.attempt) == ("completed", 2)
    assert len(job.errors) == 1
    messages = [line.message for line in log_lines(engine.db, job.id, "job")]
    assert any("attempt 1 failed" in m and "retrying in" in m for m in messages)


def test_permanent_error_fails_at_the_first_attempt(engine: Runtime) -> None:
    job = run_job(engine, kinds.PERMANENT, timeout_s=30)
    assert (job.status, job.attempt, job.max_attempts) == ("failed", 1, 3)
    assert len(job.errors) == 1
    assert job.errors[0]["class"] == "PermanentJobError"
    assert job.summary == "Failed: permanent failure on attempt 1"


def test_a_foreseen_failure_is_logged_in_one_line_a_fault_with_its_traceback(
    engine: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="mediashelf.jobs.runner")
    clock = FixedClock(T0)
    runner = runner_for(engine, clock)
    enqueue(engine, kinds.PERMANENT, clock=clock)
    assert run_once(engine, runner, clock.now()) == "failed"
    enqueue(engine, kinds.FLAKY, {"succeed_on": 99}, clock=clock)
    assert run_once(engine, runner, clock.now()) == "pending"
    failed = {r.getMessage(): r.exc_info for r in caplog.records if "failed" in r.getMessage()}
    foreseen = [m for m in failed if m.endswith("failed: permanent failure on attempt 1")]
    assert len(foreseen) == 1
    assert failed[foreseen[0]] is None  # a typed error: its message, no traceback
    faults = [m for m in failed if "permanent" not in m]
    assert len(faults) == 1
    assert failed[faults[0]] is not None  # a RuntimeError: with its traceback


# -- cancel and retry -----------------------------------------------------------------------


def test_cancel_pending_job_is_immediate(engine: Runtime) -> None:
    job_id = enqueue(engine, kinds.SLEEPY, {"steps": 5})
    with engine.db.unit_of_work() as session:
        job = cancel_job(session, engine.clock, job_id, actor="api")
    assert job.status == "cancelled"
    assert job.finished_at is not None
    assert job.summary == "Cancelled before it started"
    events = audit(engine.db, "job.cancel", job_id)
    assert len(events) == 1
    assert events[0].actor == "api"
    assert events[0].details["outcome"] == "cancelled"

    with engine.db.unit_of_work() as session, pytest.raises(JobConflict):
        cancel_job(session, engine.clock, job_id, actor="api")
    assert claim(engine.db, "w1", engine.clock.now() + timedelta(days=1)) == []
    assert load(engine.db, job_id).attempt == 0


def test_cancel_running_job_stops_it_within_a_step(engine: Runtime) -> None:
    job_id = enqueue(engine, kinds.SLEEPY, {"steps": 300, "step_s": 0.1})
    engine.start_worker()
    wait_until(lambda: load(engine.db, job_id).progress.get("step", 0) >= 3, "three steps")

    with engine.db.unit_of_work() as session:
        requested = cancel_job(session, engine.clock, job_id, actor="ui")
        step_at_cancel = requested.progress["step"]
    assert requested.status == "running"
    assert requested.cancel_requested_at is not None

    job = wait_for_job(engine, job_id, timeout_s=30)
    assert job.status == "cancelled"
    assert job.cancel_requested_at is not None
    assert job.finished_at is not None
    assert job.summary == "Cancelled; work already done is kept."
    assert job.progress["step"] <= step_at_cancel + 1  # at most the step in flight
    events = audit(engine.db, "job.cancel", job_id)
    assert [(e.actor, e.details["outcome"]) for e in events] == [("ui", "cancel requested")]
    messages = [line.message for line in log_lines(engine.db, job_id, "job")]
    assert "cancel requested by ui" in messages


def test_retry_failed_job_runs_it_again(engine: Runtime) -> None:
    failed = run_job(engine, kinds.PERMANENT, {"succeed_on": 2}, timeout_s=30)
    assert (failed.status, failed.attempt) == ("failed", 1)

    with engine.db.unit_of_work() as session:
        job = retry_job(session, engine.registry, engine.clock, failed.id, actor="cli")
    assert (job.status, job.trigger) == ("pending", "retry")
    assert job.max_attempts == 1 + kinds.MAX_ATTEMPTS
    assert (job.finished_at, job.error, job.summary, job.worker_id) == (None, None, None, None)
    # From the start: its duration is the new run's, not the time since the failed one began
    # (a retried scan said "completed in 22.7s" beside a duration of 49.5 s).
    assert job.started_at is None
    events = audit(engine.db, "job.retry", failed.id)
    assert [(e.actor, e.details["previous_status"]) for e in events] == [("cli", "failed")]

    done = wait_for_job(engine, failed.id, timeout_s=30)
    assert (done.status, done.attempt) == ("completed", 2)
    assert done.started_at is not None
    assert failed.finished_at is not None
    assert done.started_at >= failed.finished_at
    assert done.summary == "permanent succeeded on attempt 2"

    with engine.db.unit_of_work() as session, pytest.raises(JobConflict):
        retry_job(session, engine.registry, engine.clock, failed.id, actor="cli")


def test_retry_refuses_active_jobs_and_taken_unique_keys(engine: Runtime) -> None:
    pending = enqueue(engine, kinds.SLEEPY, {"key": "k"})
    with engine.db.unit_of_work() as session, pytest.raises(JobConflict):
        retry_job(session, engine.registry, engine.clock, pending, actor="api")
    with engine.db.unit_of_work() as session:
        cancel_job(session, engine.clock, pending, actor="api")
    newer = enqueue(engine, kinds.SLEEPY, {"key": "k"})
    with engine.db.unit_of_work() as session, pytest.raises(DuplicateJob) as dup:
        retry_job(session, engine.registry, engine.clock, pending, actor="api")
    assert dup.value.job_id == newer
    assert load(engine.db, pending).status == "cancelled"


# -- logs -------------------------------------------------------------------------------------


def run_chatty(database: Database, lines: int, stream: str = "job") -> tuple[Job, Runtime]:
    """Run one chatty job with the smallest log cap (100)."""
    runtime = make_runtime(database, None, job_modules=KINDS_MODULE, job_log_cap=100)
    try:
        job = run_job(runtime, kinds.CHATTY, {"lines": lines, "stream": stream}, timeout_s=60)
    finally:
        stop_worker(runtime)
    assert job.status == "completed"
    return job, runtime


@pytest.mark.parametrize("stream", ["job", "progress"])
def test_log_cap_keeps_the_newest_lines_and_says_lines_were_dropped(
    database: Database, stream: str
) -> None:
    job, _ = run_chatty(database, 1000, stream)
    cap = 100
    kept = log_lines(database, job.id, stream)
    for name in ("job", "progress"):
        assert len(log_lines(database, job.id, name)) <= cap + 3, name
    messages = [line.message for line in kept]
    assert "line 1000" in messages
    assert "line 1" not in messages
    numbers = [int(m.split()[1]) for m in messages if re.fullmatch(r"line \d+", m)]
    assert numbers == sorted(numbers)  # the newest lines, in order
    assert numbers[0] > 1000 - cap - 3
    notes = [line for line in log_lines(database, job.id, "job") if DROPPED.search(line.message)]
    assert notes, "no line says that lines were dropped"
    assert {note.level for note in notes} == {"warning"}


def test_log_cap_note_counts_every_dropped_line(database: Database) -> None:
    job, _ = run_chatty(database, 1000)
    kept = log_lines(database, job.id, "job")
    notes = [int(m.group(1)) for line in kept if (m := DROPPED.search(line.message))]
    # written to the job stream: "created", "attempt started", 1000 lines, "completed"
    written_lines = 1 + 1 + 1000 + 1
    kept_lines = len([line for line in kept if not DROPPED.search(line.message)])
    assert sum(notes) == written_lines - kept_lines
    with database.unit_of_work() as session:  # the API shows the count the docs promise
        shown = JobOut.model_validate(session.get(Job, job.id)).model_dump()
    assert shown["logs_dropped"] == sum(notes)


# -- retention --------------------------------------------------------------------------------


def add_finished(db: Database, kind: str, finished_at: datetime, count: int) -> list[int]:
    """Insert `count` finished jobs of `kind` (with one log line each) directly."""
    ids = []
    with db.unit_of_work() as session:
        for _ in range(count):
            job = Job(
                kind=kind, status="completed", priority=0, params={}, created_at=finished_at,
                run_at=finished_at, started_at=finished_at, finished_at=finished_at, attempt=1,
                max_attempts=3, trigger="api", progress={}, errors=[], summary="old",
            )  # fmt: skip
            session.add(job)
            session.flush()
            JobStore(session).log(job.id, 1, finished_at, "info", "done")
            ids.append(job.id)
    return ids


def test_prune_deletes_old_finished_jobs_but_keeps_the_newest_per_kind(database: Database) -> None:
    clock = FixedClock(T0)
    old, recent = T0 - timedelta(days=40), T0 - timedelta(days=1)
    early_recent = add_finished(database, kinds.RECORD, recent, 3)
    old_records = add_finished(database, kinds.RECORD, old, 60)
    late_recent = add_finished(database, kinds.RECORD, recent, 5)
    old_flaky = add_finished(database, kinds.FLAKY, old, 10)
    with database.unit_of_work() as session:
        pending = Job(
            kind=kinds.RECORD, status="pending", params={}, created_at=old, run_at=old,
            trigger="api", progress={}, errors=[],
        )  # fmt: skip
        session.add(pending)
        session.flush()
        pending_id = pending.id

    pruned = prune_finished_jobs(database, clock, days=30, batch=4)

    # newest 50 records by id: the 5 late recent ones and the last 45 old ones
    expected_gone = old_records[: len(old_records) - (KEEP_LAST_PER_KIND - len(late_recent))]
    assert pruned == len(expected_gone) == 15
    with database.unit_of_work() as session:
        left = set(session.scalars(select(Job.id)))
        logged = set(session.scalars(select(JobLog.job_id)))
    assert left == (
        set(early_recent) | set(old_records[15:]) | set(late_recent) | set(old_flaky)
    ) | {pending_id}
    assert not logged & set(expected_gone)  # their logs went with them
    assert prune_finished_jobs(database, clock, days=30) == 0


# -- reaper and fencing -----------------------------------------------------------------------

LEASE_S = 30.0


def test_reaper_requeues_silent_jobs_then_fails_them(engine: Runtime) -> None:
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.SLEEPY, clock=clock)
    for attempt in range(1, kinds.MAX_ATTEMPTS + 1):
        now = clock.now()
        (claimed,) = claim(engine.db, f"w{attempt}", now)
        assert claimed.attempt == attempt
        assert reap_silent_jobs(engine.db, clock, LEASE_S) == 0
        clock.set(now + timedelta(seconds=LEASE_S - 1))
        assert reap_silent_jobs(engine.db, clock, LEASE_S) == 0  # within the lease
        clock.set(now + timedelta(seconds=LEASE_S + 1))
        assert reap_silent_jobs(engine.db, clock, LEASE_S) == 1
        job = load(engine.db, job_id)
        assert len(job.errors) == attempt
        entry = job.errors[-1]
        assert entry["attempt"] == attempt
        assert entry["class"] == "WorkerLost"
        assert entry["worker"] == f"w{attempt}"
        assert entry["error"].startswith("interrupted")
        if attempt < kinds.MAX_ATTEMPTS:
            assert (job.status, job.worker_id, job.run_at) == ("pending", None, clock.now())
            assert job.finished_at is None
        else:
            assert job.status == "failed"
            assert job.finished_at == clock.now()
            assert job.summary is not None
            assert job.summary.startswith("Failed: interrupted")
    assert claim(engine.db, "w9", clock.now() + timedelta(days=1)) == []
    messages = [line.message for line in log_lines(engine.db, job_id, "job")]
    assert sum("interrupted" in m for m in messages) == kinds.MAX_ATTEMPTS


def test_reaper_spares_long_jobs_whose_worker_heartbeats(engine: Runtime) -> None:
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.SLEEPY, clock=clock)
    claim(engine.db, "w1", T0)
    for minutes in (1, 10, 60):
        clock.set(T0 + timedelta(minutes=minutes))
        with engine.db.unit_of_work() as session:
            alive = JobStore(session).heartbeat([Fence(job_id, 1, "w1")], clock.now())
        assert [beat.job_id for beat in alive] == [job_id]
        clock.set(clock.now() + timedelta(seconds=LEASE_S - 1))
        assert reap_silent_jobs(engine.db, clock, LEASE_S) == 0
    job = load(engine.db, job_id)
    assert (job.status, job.worker_id, job.errors) == ("running", "w1", [])


def test_a_late_heartbeat_never_moves_the_lease_back(engine: Runtime) -> None:
    """A heartbeat stamped before it waited for the row must not undo a newer stamp.

    The heartbeat computes its time, then waits for the row while a batch holds it; the
    batch commits a newer time, and the heartbeat's older one landing after it made a live
    job look silent to the reaper in the same breath.
    """
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.SLEEPY, clock=clock)
    claim(engine.db, "w1", T0)
    fence = Fence(job_id, 1, "w1")
    stamped = T0 + timedelta(seconds=LEASE_S)  # when the heartbeat read the clock
    committed = stamped + timedelta(seconds=LEASE_S * 2)  # the batch's commit, meanwhile
    with engine.db.unit_of_work() as session:
        assert JobStore(session).checkpoint(fence, committed, {"done": 1}) is not None
    with engine.db.unit_of_work() as session:
        beats = JobStore(session).heartbeat([fence], stamped)
    assert [beat.job_id for beat in beats] == [job_id]  # still renewed: the job is held
    assert load(engine.db, job_id).heartbeat_at == committed
    clock.set(committed + timedelta(seconds=LEASE_S - 1))
    assert reap_silent_jobs(engine.db, clock, LEASE_S) == 0


def test_a_batch_holding_the_row_longer_than_the_lease_keeps_its_job(
    engine: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's own heartbeat and reaper wait behind the batch; neither takes the job."""
    lease_s = engine.settings.lease_s
    params: dict[str, object] = {"batches": 2, "hold_s": lease_s * 2.5, "pause_s": lease_s}
    job = run_job(engine, kinds.SLOW_BATCH, params, timeout_s=60)
    assert (job.status, job.attempt, job.errors) == ("completed", 1, [])
    assert job.progress == {"batches": 2}
    assert not [r for r in caplog.records if "taken away" in r.getMessage()]


def test_one_long_batch_holds_back_no_other_jobs_heartbeat(
    engine: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Two jobs on one worker: A's batch holds its row for longer than the lease while B works
    outside any batch. B's beat must not wait behind A's row, or B looks silent."""
    lease_s = engine.settings.lease_s
    assert engine.settings.worker_concurrency >= 2
    long_batch = enqueue(engine, kinds.SLOW_BATCH, {"batches": 2, "hold_s": lease_s * 2.5,
                                                    "pause_s": 0})  # fmt: skip
    between = enqueue(engine, kinds.SLOW_BATCH, {"batches": 2, "hold_s": 0,
                                                 "pause_s": lease_s * 3})  # fmt: skip
    for job_id in (long_batch, between):
        job = wait_for_job(engine, job_id, timeout_s=60)
        assert (job.status, job.attempt, job.errors) == ("completed", 1, []), job_id
    assert not [r for r in caplog.records if "taken away" in r.getMessage()]


def take_away(engine: Runtime, clock: FixedClock, job_id: int) -> tuple[Fence, Fence, Job]:
    """Claim as w1, let w1 fall silent, reap, re-claim as w2; return both fences."""
    (first,) = claim(engine.db, "w1", clock.now())
    clock.set(clock.now() + timedelta(seconds=LEASE_S + 1))
    assert reap_silent_jobs(engine.db, clock, LEASE_S) == 1
    (second,) = claim(engine.db, "w2", clock.now())
    assert second.id == job_id
    return Fence(job_id, 1, "w1"), Fence(job_id, 2, "w2"), first


def test_fenced_writes_of_a_reaped_attempt_change_nothing(engine: Runtime) -> None:
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.SLEEPY, clock=clock)
    old, new, _ = take_away(engine, clock, job_id)
    before = load(engine.db, job_id)
    logs_before = len(log_lines(engine.db, job_id))

    with engine.db.unit_of_work() as session:
        store = JobStore(session)
        assert store.checkpoint(old, clock.now(), {"zombie": 1}) is None
        assert not store.complete(old, clock.now(), "zombie", {}, None)
        assert not store.fenced_log(old, clock.now(), "job", "info", "zombie line")
        same_worker_old_attempt = Fence(job_id, 1, "w2")
        assert store.checkpoint(same_worker_old_attempt, clock.now(), {"zombie": 2}) is None

    after = load(engine.db, job_id)
    assert (after.status, after.attempt, after.worker_id) == ("running", 2, "w2")
    assert after.progress == before.progress
    assert len(log_lines(engine.db, job_id)) == logs_before

    with engine.db.unit_of_work() as session:
        row = JobStore(session).checkpoint(new, clock.now(), {"owner": "w2"})
        assert row is not None
        assert JobStore(session).fenced_log(new, clock.now(), "job", "info", "w2 line")
    assert load(engine.db, job_id).progress == {"owner": "w2"}


def zombie_context(engine: Runtime, clock: FixedClock, fence: Fence) -> JobContext:
    """Return a job context holding `fence`, as the worker the job was taken from has."""
    return JobContext(
        db=engine.db, clock=clock, fence=fence, kind=kinds.SLEEPY, params=SleepyParams(),
        checkpoint=None, trigger="cli",
    )  # fmt: skip


def test_fenced_out_context_rolls_back_its_batch_and_reports_lost(engine: Runtime) -> None:
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.SLEEPY, clock=clock)
    old, _, _ = take_away(engine, clock, job_id)
    ctx = zombie_context(engine, clock, old)

    def zombie_batch() -> None:
        with engine.db.unit_of_work() as session:
            AuditStore(session).record(ts=clock.now(), action="zombie.batch", actor="job:zombie")
            ctx.commit_batch(session, {"processed": 10}, {"after": "zzz"})

    with pytest.raises(JobLost):
        zombie_batch()
    assert ctx.signals.lost.is_set()
    with engine.db.unit_of_work() as session:
        zombie = session.scalar(select(func.count()).where(AuditEvent.action == "zombie.batch"))
    assert zombie == 0  # the batch's own writes rolled back with it
    job = load(engine.db, job_id)
    assert (job.checkpoint, job.progress) == (None, {})

    fresh = zombie_context(engine, clock, old)
    fresh.log("zombie log")
    assert fresh.signals.lost.is_set()
    fresh.signals.lost.clear()
    fresh.report({"processed": 99}, line="zombie progress")
    assert fresh.signals.lost.is_set()
    with pytest.raises(JobLost):
        fresh.check()
    messages = [line.message for line in log_lines(engine.db, job_id)]
    assert not any("zombie" in m for m in messages)
    assert load(engine.db, job_id).progress == {}


def test_fenced_out_batch_stops_before_its_writes_can_clash(engine: Runtime) -> None:
    """A worker resumed after its rescuer redid the batch must learn it was taken away.

    Its writes would clash with the rescuer's (the same tracks inserted twice); the fence is
    checked before the batch's work runs, so it sees JobLost, not the clash.
    """
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.SLEEPY, clock=clock)
    old, _, _ = take_away(engine, clock, job_id)
    ctx = zombie_context(engine, clock, old)
    writes: list[str] = []

    def clashing(session: Session) -> None:
        writes.append("started")
        raise AssertionError("the batch ran although the job was taken away")

    with pytest.raises(JobLost):
        ctx.batch(clashing)
    assert writes == []
    assert ctx.signals.lost.is_set()


def test_runner_of_a_reaped_attempt_stops_as_lost(engine: Runtime) -> None:
    clock = FixedClock(T0)
    job_id = enqueue(engine, kinds.FLAKY, {"succeed_on": 1}, clock=clock)
    _, _, stale = take_away(engine, clock, job_id)
    status = runner_for(engine, clock, worker_id="w1").run(stale, StopSignals())
    assert status == "lost"
    job = load(engine.db, job_id)
    assert (job.status, job.attempt, job.worker_id) == ("running", 2, "w2")
    assert job.summary is None


def test_log_cap_holds_when_a_job_ends_between_trims(database: Database) -> None:
    job, _ = run_chatty(database, 1150)
    assert len(log_lines(database, job.id, "job")) <= 100 + 3


@pytest.mark.parametrize(
    ("kind", "params", "ends_in"),
    [(kinds.FLAKY, {"succeed_on": 1}, "completed"), (kinds.PERMANENT, {}, "failed")],
)
def test_the_last_child_to_end_wakes_its_waiting_parent(
    engine: Runtime, kind: str, params: dict[str, Any], ends_in: str
) -> None:
    # The runner makes the waiting parent due right after the last child's ending commits,
    # so a fanned-out scan ends with its chunks, not at its parent's next look-in.
    clock = FixedClock(T0)
    later = T0 + timedelta(seconds=30)
    parent = enqueue(engine, kinds.SLEEPY, clock=clock)
    set_columns(engine.db, parent, run_at=later)
    children = [enqueue(engine, kind, params, clock=clock) for _ in range(2)]
    for child in children:
        set_columns(engine.db, child, parent_id=parent)
    runner = runner_for(engine, clock, worker_id="w1")
    for child, parent_due in zip(children, (later, T0), strict=True):
        [job] = claim(engine.db, "w1", T0)
        assert job.id == child
        assert runner.run(job, StopSignals()) == ends_in
        assert load(engine.db, parent).run_at == parent_due


def test_a_child_retried_later_leaves_its_waiting_parent_waiting(engine: Runtime) -> None:
    clock = FixedClock(T0)
    later = T0 + timedelta(seconds=30)
    parent = enqueue(engine, kinds.SLEEPY, clock=clock)
    set_columns(engine.db, parent, run_at=later)
    child = enqueue(engine, kinds.FLAKY, {"succeed_on": 2}, clock=clock)
    set_columns(engine.db, child, parent_id=parent)
    [job] = claim(engine.db, "w1", T0)
    assert runner_for(engine, clock, worker_id="w1").run(job, StopSignals()) == "pending"
    assert load(engine.db, parent).run_at == later


def test_a_parent_that_cannot_be_woken_leaves_the_child_ended(
    engine: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Waking the parent is a shortcut after the child's ending committed: when it fails the
    # child's outcome stands and the parent looks in by itself.
    def refused(self: JobStore, parent_id: int, now: datetime) -> bool:
        raise IntegrityError("UPDATE jobs", {}, Exception("refused"))

    monkeypatch.setattr(JobStore, "wake_parent", refused)
    clock = FixedClock(T0)
    parent = enqueue(engine, kinds.SLEEPY, clock=clock)
    set_columns(engine.db, parent, run_at=T0 + timedelta(seconds=30))
    child = enqueue(engine, kinds.FLAKY, {"succeed_on": 1}, clock=clock)
    set_columns(engine.db, child, parent_id=parent)
    [job] = claim(engine.db, "w1", T0)
    with caplog.at_level(logging.WARNING, logger="mediashelf.jobs.runner"):
        assert runner_for(engine, clock, worker_id="w1").run(job, StopSignals()) == "completed"
    assert load(engine.db, child).status == "completed"
    assert f"Parent job {parent} not woken" in caplog.text


def test_a_look_in_that_missed_the_last_child_ending_wakes_itself(engine: Runtime) -> None:
    # The last child ends while its parent is looking in (running: the child's wake finds no
    # pending parent). The look-in saw the child active and waits again; right after that
    # commits, the runner looks once more and makes the parent due now.
    clock = FixedClock(T0)
    parent = enqueue(engine, kinds.SLEEPY, clock=clock)
    child = enqueue(engine, kinds.FLAKY, {"succeed_on": 1}, clock=clock)
    set_columns(engine.db, child, parent_id=parent, status="completed", finished_at=T0)

    def look_in(ctx: JobContext) -> JobOutcome:  # it read the child while it still ran
        raise AwaitChildren(30.0, {"chunks": {"running": 1}}, {"chunks": [child]})

    looking_in = dataclasses.replace(engine.registry.get(kinds.SLEEPY), handler=look_in)
    engine.registry.register(looking_in)
    [job] = claim(engine.db, "w1", T0)
    assert job.id == parent
    assert runner_for(engine, clock, worker_id="w1").run(job, StopSignals()) == "pending"
    assert load(engine.db, parent).run_at == T0


def test_a_second_start_worker_is_the_running_worker(engine: Runtime) -> None:
    """A worker started over the running one outlived close() and claimed later jobs."""
    first = engine.start_worker()
    assert engine.start_worker() is first
    engine.close()
    assert not any(thread.is_alive() for thread in first._threads)
