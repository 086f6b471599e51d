"""The CLI prints a job in the API's JSON form, written without building the API's model."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from mediashelf.cli.jobs import job_json
from mediashelf.db.session import Database
from mediashelf.jobs.service import cancel_job, create_job, get_job
from mediashelf.probe.pool import ProbePool
from mediashelf.web.job_schemas import JobOut
from tests.conftest import make_runtime, run_job


def test_every_state_of_a_job_prints_as_the_api_shows_it(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    runtime = make_runtime(database, library, probe_pool)
    try:
        done = run_job(runtime, "library_scan").id  # completed: result, progress, times
        assert runtime.worker is not None
        runtime.worker.stop()  # the jobs below stay as they are written
        runtime.worker = None
        with runtime.db.unit_of_work() as session:
            pending = create_job(session, runtime.registry, runtime.clock, kind="library_verify",
                                 params={"lossless_only": True}, trigger="cli",
                                 actor="test").id  # fmt: skip
            cancel_job(session, runtime.clock, pending, actor="test")  # cancelled before start
        with runtime.db.unit_of_work() as session:
            failed = create_job(session, runtime.registry, runtime.clock, kind="library_verify",
                                params={}, trigger="cli", actor="test").id  # fmt: skip
            broken = get_job(session, failed)
            broken.status, broken.error = "failed", "the library is offline: ü \x1b"
            broken.errors = [{"attempt": 1, "class": "LibraryUnavailable", "message": "gone"}]
            broken.error_summary = {"unreadable": {"count": 2, "samples": ["a.mp3", "b"]}}
            broken.finished_at = broken.created_at
            running = get_job(session, done)
            running.status, running.finished_at = "running", None  # a heartbeat, no end
            assert running.started_at is not None
            running.heartbeat_at = running.started_at + timedelta(seconds=1.23456)
        with runtime.db.unit_of_work() as session:
            jobs = [get_job(session, job_id) for job_id in (done, failed, pending)]
            assert [job.status for job in jobs] == ["running", "failed", "cancelled"]
            assert job_json(jobs[2])["error_summary"] == {}  # null and {} alike mean none
            for job in jobs:
                assert job_json(job) == JobOut.model_validate(job).model_dump(mode="json")
                assert list(job_json(job)) == list(JobOut.model_validate(job).model_dump())
    finally:
        if runtime.worker is not None:
            runtime.worker.stop()
