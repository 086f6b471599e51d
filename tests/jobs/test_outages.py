"""The job engine under real faults: a SQLite lock held by another process, PostgreSQL backends
terminated in a loop, runner threads that die, migrations racing, cancels under slow pacing and
concurrent retries/cancels. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mediashelf.clock import SystemClock
from mediashelf.db import migrate
from mediashelf.db.schema import Job, JobLog, Track
from mediashelf.db.session import Database
from mediashelf.errors import JobConflict
from mediashelf.jobs.context import StopSignals
from mediashelf.jobs.runner import JobRunner
from mediashelf.jobs.service import cancel_job, create_job, retry_job
from mediashelf.library.scan_request import request_scan
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from mediashelf.web.errors import status_for
from tests.conftest import make_runtime
from tests.jobs import kinds
from tests.jobs.outage_tools import (
    DOOMED,
    FINISHED,
    SECOND_WIND,
    load_job,
    outage,
    patiently,
    wait_for_end,
)
from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
KINDS = ("tests.jobs.kinds", "tests.jobs.outage_tools")
FILES = 22  # media files in the per-test library copy of the corpus
BROKEN = 4
OUTCOMES = ("added", "updated", "unchanged", "moved", "failed", "skipped")
BUSY_MS = 200  # SQLite waits this long for another process's lock, then the worker retries


@pytest.fixture
def fragile(database: Database) -> Iterator[Database]:
    """The test database opened with a short SQLite busy timeout (faults surface quickly)."""
    db = Database(database.url, busy_timeout_ms=BUSY_MS)
    yield db
    db.dispose()


@pytest.fixture
def engines() -> Iterator[list[Runtime]]:
    """Runtimes a test builds; their workers are stopped at the end."""
    built: list[Runtime] = []
    yield built
    for runtime in built:
        if runtime.worker is not None:
            runtime.worker.stop()
            runtime.worker = None


def build(
    engines: list[Runtime], db: Database, library: Path | None, pool: ProbePool | None = None,
    **overrides: object,
) -> Runtime:  # fmt: skip
    """Return a runtime over `db` with fast engine timings and the test job kinds."""
    runtime = make_runtime(
        db, library, pool, job_modules=KINDS, sqlite_busy_timeout_ms=BUSY_MS, **overrides
    )
    engines.append(runtime)
    return runtime


def enqueue(runtime: Runtime, kind: str, params: dict[str, Any] | None = None) -> int:
    """Create a job through the service; return its id."""
    with runtime.db.unit_of_work() as session:
        job = create_job(
            session, runtime.registry, runtime.clock, kind=kind, params=params or {},
            trigger="cli", actor="test",
        )  # fmt: skip
        return job.id


def committed(job: Job) -> int:
    """Return how many files the job's last committed batch brought it to."""
    return int(((job.checkpoint or {}).get("counters") or {}).get("processed", 0))


def track_statuses(db: Database) -> dict[str, int]:
    """Return the tracks counted by probe status."""

    def read(session: Session) -> dict[str, int]:
        rows = session.execute(
            select(Track.probe_status, func.count()).group_by(Track.probe_status)
        )
        return {status: int(n) for status, n in rows}

    return patiently(db, read)


def progress_lines(db: Database, job_id: int) -> int:
    """Return how many lines the job's progress stream has."""

    def read(session: Session) -> int:
        query = select(func.count()).where(JobLog.job_id == job_id, JobLog.stream == "progress")
        return int(session.scalar(query) or 0)

    return patiently(db, read)


def jobs_by_status(db: Database) -> dict[str, int]:
    """Return every job counted by status."""

    def read(session: Session) -> dict[str, int]:
        rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
        return {status: int(n) for status, n in rows}

    return patiently(db, read)


def assert_exact_first_scan(job: Job) -> None:
    """Every file of the corpus copy in exactly one outcome bucket, counted once."""
    p = job.progress
    assert (p["total"], p["processed"]) == (FILES, FILES), p
    assert (p["added"], p["failed"]) == (FILES - BROKEN, BROKEN), p
    assert (p["updated"], p["unchanged"], p["moved"], p["missing"], p["skipped"]) == (
        0, 0, 0, 0, 0,
    ), p  # fmt: skip
    assert sum(p[name] for name in OUTCOMES) == p["processed"], p


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the warnings mediashelf logged about the database being away."""
    return [
        r.getMessage() for r in caplog.records
        if r.name.startswith("mediashelf") and r.levelno >= logging.WARNING
        and ("database" in r.getMessage())
    ]  # fmt: skip


# -- 1, 2: a scan rides out the outage -------------------------------------------------------


def test_scan_rides_out_a_database_outage_mid_scan_with_exact_counts(
    fragile: Database, library: Path, probe_pool: ProbePool, engines: list[Runtime],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """SQLite: another process holds the write lock ~3 s; PostgreSQL: backends terminated ~3 s."""
    caplog.set_level(logging.INFO, logger="mediashelf")
    runtime = build(engines, fragile, library, probe_pool)
    job_id = enqueue(runtime, "library_scan", {"batch_size": 2, "throttle_ms": 150})
    runtime.start_worker()
    wait_until(lambda: committed(load_job(fragile, job_id)) >= 4, "4 files committed")

    with outage(fragile, 3.0) as what:
        during = load_job(fragile, job_id)
        assert during.status == "running", (during.status, during.summary)
        assert committed(during) < FILES  # the outage really is mid-scan
    fault = what()

    job = wait_for_end(fragile, job_id, timeout_s=60)
    assert job.status == "completed", (fault, job.error, job.errors)
    assert (job.attempt, job.errors) == (1, []), "the outage was not ridden out in place"
    assert_exact_first_scan(job)
    assert track_statuses(fragile) == {"ok": FILES - BROKEN, "error": BROKEN}
    warnings = outage_warnings(caplog)
    assert any(w.startswith(f"job {job_id}: ") and "retrying" in w for w in warnings), (
        f"the scan itself never met the fault ({fault}): {warnings}"
    )

    # Nothing is stuck: a new scan is a new job (no 409 forever), and it completes.
    with fragile.unit_of_work() as session:
        again = request_scan(
            session, runtime.registry, runtime.clock, {}, trigger="cli", actor="test"
        )
    assert not again.joined
    assert again.job_id != job_id
    second = wait_for_end(fragile, again.job_id, timeout_s=60)
    assert second.status == "completed", second.error
    assert (second.progress["unchanged"], second.progress["processed"]) == (FILES, FILES)
    assert jobs_by_status(fragile) == {"completed": 2}


# -- 3: a dead runner's job is never kept alive ----------------------------------------------


@pytest.mark.parametrize("death", ["SystemExit in the handler", "completion raises"])
def test_dead_runner_during_an_outage_is_requeued_and_the_worker_goes_on(
    fragile: Database, tmp_path: Path, engines: list[Runtime], monkeypatch: pytest.MonkeyPatch,
    death: str,
) -> None:  # fmt: skip
    runtime = build(engines, fragile, None)
    gate = tmp_path / "gate"
    dies_in_handler = death.startswith("SystemExit")
    if not dies_in_handler:
        real_complete = JobRunner._complete
        broke: list[bool] = []

        def complete_once_broken(self: JobRunner, *args: Any) -> str:
            if not broke:
                broke.append(True)
                raise KeyboardInterrupt  # a BaseException out of the runner's own code
            return real_complete(self, *args)

        monkeypatch.setattr(JobRunner, "_complete", complete_once_broken)
    job_id = enqueue(runtime, DOOMED, {"gate": str(gate), "die": dies_in_handler})
    worker = runtime.start_worker()
    wait_until(lambda: load_job(fragile, job_id).status == "running", "the job to run")

    with outage(fragile, 1.5):  # longer than the lease
        gate.touch()
        wait_until(lambda: job_id not in worker.running_ids(), "the runner thread to die", 20)

    job = wait_for_end(fragile, job_id, timeout_s=60)
    assert job.status == "completed", (job.status, job.errors)
    assert job.attempt == 2
    assert len(job.errors) == 1, job.errors
    record = job.errors[0]
    assert record["attempt"] == 1
    # Either the worker recorded the crash itself, or (when the outage outlasted the lease) its
    # reaper rescued the job first: both end the attempt with one record (DESIGN §6).
    crash = "SystemExit" if dies_in_handler else "KeyboardInterrupt"
    recorded = crash in f"{record['class']} {record['error']}"
    rescued = record["class"] == "WorkerLost" and record["error"].startswith("interrupted")
    assert recorded or rescued, record

    # The worker still claims and runs new jobs.
    follow_up = enqueue(runtime, kinds.RECORD, {"path": str(tmp_path / "record.txt")})
    assert wait_for_end(fragile, follow_up, timeout_s=30).status == "completed"
    assert jobs_by_status(fragile) == {"completed": 2}


def test_dead_runner_whose_failure_cannot_be_recorded_is_rescued_by_the_reaper(
    fragile: Database, tmp_path: Path, engines: list[Runtime], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The heartbeat must not vouch for a job nobody runs: the reaper takes it back."""

    def cannot_record(*_args: object) -> str:
        raise RuntimeError("test: recording the crash failed too")

    monkeypatch.setattr(JobRunner, "fail_crashed", cannot_record)
    runtime = build(engines, fragile, None)
    gate = tmp_path / "gate"
    job_id = enqueue(runtime, DOOMED, {"gate": str(gate)})
    worker = runtime.start_worker()
    wait_until(lambda: load_job(fragile, job_id).status == "running", "the job to run")

    with outage(fragile, 1.5):  # longer than the lease
        gate.touch()
        wait_until(lambda: job_id not in worker.running_ids(), "the runner thread to die", 20)

    job = wait_for_end(fragile, job_id, timeout_s=60)
    assert job.status == "completed", (job.status, job.errors)
    assert job.attempt == 2
    assert [(e["attempt"], e["class"]) for e in job.errors] == [(1, "WorkerLost")]
    assert job.errors[0]["error"].startswith("interrupted")
    follow_up = enqueue(runtime, kinds.RECORD, {"path": str(tmp_path / "record.txt")})
    assert wait_for_end(fragile, follow_up, timeout_s=30).status == "completed"


def test_retry_claimed_before_the_failed_attempt_is_done_keeps_its_heartbeat(
    database: Database, engines: list[Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner of attempt 1 is descheduled between its last commit and its done-callback
    (as happens under load) while the claim loop already took attempt 2 of the same job: the
    heartbeat must still vouch for attempt 2, which is running."""
    real_run = JobRunner.run

    def run_then_linger(self: JobRunner, job: Job, signals: StopSignals) -> str:
        status = real_run(self, job, signals)
        if job.attempt == 1:  # hold the done-callback back until the retry is claimed
            wait_until(lambda: load_job(database, job.id).attempt >= 2, "attempt 2 claimed", 20)
        return status

    monkeypatch.setattr(JobRunner, "run", run_then_linger)
    runtime = build(engines, database, None)
    job_id = enqueue(runtime, SECOND_WIND, {"run_s": 2.5})  # attempt 2 outlives the 1 s lease
    runtime.start_worker()

    job = wait_for_end(database, job_id, timeout_s=60)
    assert [(e["attempt"], e["class"]) for e in job.errors] == [(1, "RuntimeError")], job.errors
    assert (job.status, job.attempt) == ("completed", 2), (job.status, job.summary)


# -- 4: migrations racing --------------------------------------------------------------------


def test_concurrent_db_upgrades_on_a_fresh_database_all_succeed(db_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDIASHELF_")}
    env |= {"MEDIASHELF_DATABASE_URL": db_url, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "mediashelf.cli", "db", "upgrade"]
    procs = [
        subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(proc.communicate(timeout=120), proc.returncode) for proc in procs]
    for (out, err), code in results:
        assert code == 0, err[-3000:]
        assert "schema at revision" in out
    with Database(db_url) as db:
        assert migrate.current_revision(db) == migrate.head_revision()
        assert migrate.schema_diff(db) == []


# -- 5: cancel under the slowest pacing ------------------------------------------------------


def test_cancel_lands_quickly_under_the_slowest_probe_pacing(
    database: Database, library: Path, probe_pool: ProbePool, engines: list[Runtime]
) -> None:
    runtime = build(engines, database, library, probe_pool)
    job_id = enqueue(runtime, "library_scan", {"batch_size": 1, "max_probes_per_s": 0.1})
    runtime.start_worker()
    wait_until(lambda: committed(load_job(database, job_id)) >= 1, "the first file committed")
    reports = progress_lines(database, job_id)

    def pacing_or_ended() -> bool:  # a few seconds in: the scan reports while it waits
        ended = load_job(database, job_id).status in FINISHED
        return ended or progress_lines(database, job_id) > reports

    wait_until(pacing_or_ended, "a progress report while the scan paces its probes", 15)
    before = load_job(database, job_id)
    assert before.status == "running", (
        f"the scan ended by itself ({before.summary}): max_probes_per_s=0.1 was not honoured"
    )

    outcome: list[object] = []

    def cancel_from_elsewhere() -> None:  # the API's path: a session of its own, no shortcut
        try:
            with database.unit_of_work() as session:
                outcome.append(cancel_job(session, SystemClock(), job_id, actor="api").status)
        except JobConflict as exc:  # the scan ended before the cancel: reported below
            outcome.append(exc.message)

    canceller = threading.Thread(target=cancel_from_elsewhere)
    canceller.start()
    canceller.join(30)
    assert outcome == ["running"], f"{outcome}: max_probes_per_s=0.1 was not honoured"

    job = wait_for_end(database, job_id, timeout_s=5)
    assert job.status == "cancelled", (job.status, job.summary)
    kept = sum(track_statuses(database).values())
    assert kept == committed(job) >= 1  # committed work stays, nothing half-written
    # At 0.1 probes/s the second probe may not start before 10 s: the scan lived < 10 s.
    assert kept <= 2, f"{kept} files probed: max_probes_per_s=0.1 was not honoured"


# -- 6: concurrent retry and cancel ----------------------------------------------------------


def race(db: Database, action: Callable[[Session], object], n: int = 2) -> list[object]:
    """Run `action` in `n` threads, each in its own unit of work, released together."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(index: int) -> None:
        barrier.wait(10)
        try:
            with db.unit_of_work() as session:
                results[index] = action(session)
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def split(results: list[object]) -> tuple[list[object], list[BaseException]]:
    """Return (successes, errors) of a race."""
    errors = [r for r in results if isinstance(r, BaseException)]
    return [r for r in results if not isinstance(r, BaseException)], errors


def retry_call(runtime: Runtime, job_id: int, session: Session) -> Job:
    """Retry `job_id` as the API does."""
    return retry_job(session, runtime.registry, SystemClock(), job_id, actor="api")


def cancel_call(job_id: int, session: Session) -> Job:
    """Cancel `job_id` as the API does."""
    return cancel_job(session, SystemClock(), job_id, actor="api")


def test_concurrent_retries_and_cancels_have_exactly_one_winner(
    database: Database, engines: list[Runtime]
) -> None:
    runtime = build(engines, database, None)
    clock = SystemClock()
    for round_ in range(4):
        job_id = enqueue(runtime, kinds.SLEEPY, {"key": f"race-{round_}"})
        with database.unit_of_work() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(
                    status="failed", attempt=1, finished_at=clock.now(), error="boom",
                    summary="Failed: boom",
                )
            )  # fmt: skip
        retried = race(database, partial(retry_call, runtime, job_id))
        wins, losses = split(retried)
        assert len(wins) == 1, retried
        assert len(losses) == 1
        assert isinstance(losses[0], JobConflict), repr(losses[0])
        assert not isinstance(losses[0], IntegrityError)
        assert status_for(losses[0]) == 409
        assert load_job(database, job_id).status == "pending"

        with database.unit_of_work() as session:
            session.execute(
                update(Job).where(Job.id == job_id).values(
                    status="running", worker_id="w-race", attempt=2, heartbeat_at=clock.now(),
                )
            )  # fmt: skip
        cancelled = race(database, partial(cancel_call, job_id))
        wins, losses = split(cancelled)
        assert len(wins) == 1, cancelled
        assert len(losses) == 1
        assert isinstance(losses[0], JobConflict), repr(losses[0])
        assert status_for(losses[0]) == 409
        after = load_job(database, job_id)
        assert (after.status, after.cancel_requested_at is not None) == ("running", True)
