"""The problems view and integrity verification, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from mediashelf.cli.main import app
from mediashelf.db.schema import Job, JobLog, Track
from mediashelf.db.session import Database
from mediashelf.demo_library import ClipSpec, write_clip
from mediashelf.errors import InvalidInput, JobConflict
from mediashelf.library.problems.classes import PROBLEM_CLASSES, problem_class
from mediashelf.library.problems.service import (
    list_problems,
    release_track,
    retry_class,
    retry_track,
)
from mediashelf.library.problems.store import class_column
from mediashelf.probe.decode import decode_file
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import run_job, scan, wait_for_job
from tests.polling import wait_until

runner = CliRunner()


def _video_id(db: Database, relpath: str) -> str:
    with db.unit_of_work() as session:
        value = session.scalar(select(Track.video_id).where(Track.relpath == relpath))
    assert value is not None
    return value


def _track(db: Database, relpath: str) -> Track:
    with db.unit_of_work() as session:
        track = session.scalar(select(Track).where(Track.relpath == relpath))
    assert track is not None
    return track


def _damaged_flac(library: Path) -> Path:
    """Write a 6 s FLAC and overwrite 4 KB in its middle (headers intact)."""
    path = library / "audio/damaged.flac"
    write_clip(path, ClipSpec(container="flac", audio_codec="flac", duration_s=6.0))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    rng = random.Random(7)
    data[middle : middle + 4096] = bytes(rng.randrange(256) for _ in range(4096))
    path.write_bytes(bytes(data))
    return path


def test_sql_and_python_agree_on_every_problem_class(database: Database) -> None:
    statuses = ("ok", "error", "missing", "pending")
    error_classes = (None, "corrupt", "timeout", "crashed", "empty")
    with database.unit_of_work() as session:
        for i, (status, klass, failures, decode) in enumerate(
            itertools.product(statuses, error_classes, (0, 1, 2, 3), (None, 0, 2))
        ):
            session.add(Track(
                video_id=f"vid{i:08d}", relpath=f"x/{i}.mp3", title=str(i), filetype="mp3",
                probe_status=status, probe_error_class=klass, probe_failures=failures,
                decode_errors=decode, added_at=database_now(), updated_at=database_now(),
            ))  # fmt: skip
    with database.unit_of_work() as session:
        rows = session.execute(select(Track, class_column())).all()
    assert rows
    for track, sql_class in rows:
        expected = problem_class(
            track.probe_status, track.probe_error_class, track.probe_failures, track.decode_errors
        )
        assert sql_class == expected, (track.probe_status, track.probe_error_class)
        assert expected is None or expected in PROBLEM_CLASSES


def database_now() -> object:
    """A fixed timestamp for set-up rows."""
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def test_problems_lists_failures_by_class_with_counts(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    (library / "audio/plain.mp3").unlink()
    scan(runtime)
    with runtime.db.unit_of_work() as session:
        page = list_problems(session, None, None, 50, 0)
        corrupt = list_problems(session, "corrupt", "broken", 50, 0)
    assert page.counts == {"corrupt": 3, "empty": 1, "missing": 1}
    assert page.total == 5
    by_path = {p.track.relpath: p for p in page.items}
    assert by_path["audio/plain.mp3"].problem_class == "missing"
    assert by_path["audio/plain.mp3"].first_seen is not None
    empty = by_path["broken/empty.mp3"]
    assert (empty.problem_class, empty.message) == ("empty", "The file is empty.")
    assert empty.first_seen is not None
    assert empty.last_tried is not None
    assert [p.track.relpath for p in corrupt.items] == [
        "broken/notes.mkv", "broken/random.mp4", "broken/truncated.mp4"
    ]  # fmt: skip
    with runtime.db.unit_of_work() as session, pytest.raises(InvalidInput):
        list_problems(session, "bogus", None, 50, 0)


def test_retry_one_and_a_class_are_jobs_that_reprobe_them(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    random_id = _video_id(runtime.db, "broken/random.mp4")
    before = _track(runtime.db, "broken/random.mp4").probed_at
    with runtime.db.unit_of_work() as session:
        request = retry_track(session, runtime.registry, runtime.clock, random_id,
                              trigger="ui", actor="test")  # fmt: skip
    job = wait_for_job(runtime, request.job_id)
    assert job.status == "completed"
    assert job.params["path"] == "broken"
    assert job.params["reprobe_ids"] == [random_id]
    assert job.progress["failed"] == 1  # only the chosen file was probed again
    assert job.progress["unchanged"] == 3
    after = _track(runtime.db, "broken/random.mp4").probed_at
    assert after is not None
    assert before is not None
    assert after > before

    with runtime.db.unit_of_work() as session:
        request = retry_class(session, runtime.registry, runtime.clock, "corrupt", None,
                              trigger="ui", actor="test")  # fmt: skip
    job = wait_for_job(runtime, request.job_id)
    assert job.progress["failed"] == 3
    assert job.params["reprobe_class"] == "corrupt"


def test_release_lifts_a_quarantine_only(runtime: Runtime, library: Path) -> None:
    scan(runtime)
    with runtime.db.unit_of_work() as session:
        session.execute(
            update(Track)
            .where(Track.relpath == "broken/random.mp4")
            .values(probe_error_class="timeout", probe_failures=2)
        )
    quarantined = _video_id(runtime.db, "broken/random.mp4")
    with runtime.db.unit_of_work() as session:
        assert list_problems(session, "quarantined", None, 10, 0).total == 1
        track = release_track(session, runtime.clock, quarantined, actor="test")
        assert track.probe_failures == 0
    with runtime.db.unit_of_work() as session:
        assert list_problems(session, "quarantined", None, 10, 0).total == 0
        with pytest.raises(JobConflict):
            release_track(session, runtime.clock, quarantined, actor="test")
    assert scan(runtime).progress["skipped"] == 0  # the next scan probes it again


def test_decode_finds_damage_a_probe_cannot_see(library: Path) -> None:
    damaged = _damaged_flac(library)
    good = decode_file(library / "audio/flac16_stereo.flac")
    assert (good.errors, good.first_error) == (0, None)
    bad = decode_file(damaged)
    assert bad.errors > 0
    assert bad.first_error
    assert bad.first_error_at_s is not None
    assert 1.0 < bad.first_error_at_s < 5.0  # the damage is in the middle


def test_verify_records_decode_errors_and_the_problems_view_shows_them(
    runtime: Runtime, library: Path
) -> None:
    damaged = _damaged_flac(library)
    scan(runtime)
    assert _track(runtime.db, "audio/damaged.flac").probe_status == "ok"  # headers are fine
    job = run_job(runtime, "library_verify", {"path": "audio", "lossless_only": True})
    assert job.status == "completed", job.error
    assert job.progress["errors"] == 1
    assert job.progress["processed"] == job.progress["total"]
    assert job.error_summary == {"decode_errors": {"count": 1, "samples": ["audio/damaged.flac"]}}
    track = _track(runtime.db, "audio/damaged.flac")
    assert track.verified_at is not None
    assert track.decode_errors is not None
    assert track.decode_errors > 0
    assert track.decode_error
    with runtime.db.unit_of_work() as session:
        page = list_problems(session, "decode_errors", None, 10, 0)
    assert [p.track.relpath for p in page.items] == ["audio/damaged.flac"]

    shutil.copy(library / "audio/flac16_stereo.flac", damaged)  # repaired
    with runtime.db.unit_of_work() as session:
        request = retry_class(session, runtime.registry, runtime.clock, "decode_errors", None,
                              trigger="cli", actor="test")  # fmt: skip
    again = wait_for_job(runtime, request.job_id)
    assert again.kind == "library_verify"
    assert again.params["problems_only"] is True
    assert (again.progress["total"], again.progress["ok"]) == (1, 1)
    assert _track(runtime.db, "audio/damaged.flac").decode_errors == 0


def test_a_long_decode_does_not_hold_back_the_progress_lines(
    runtime: Runtime, probe_pool: ProbePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hour-long file decodes for minutes: verify's lines still come every 2 s."""
    from collections.abc import Callable, Iterable, Iterator

    scan(runtime, path="audio")
    real = probe_pool.decode_many

    def before_any() -> list[str]:
        """The verification's progress lines written before its first file was decoded."""
        with runtime.db.unit_of_work() as session:
            lines = session.scalars(select(JobLog.message).where(JobLog.stream == "progress"))
            return [line for line in lines if " phase=verify processed=0 " in line]

    def slow(items: Iterable[tuple[Path, float]],
             stop: Callable[[], bool] | None = None) -> Iterator[object]:  # fmt: skip
        """Decode the first file for as long as the job takes to write two lines meanwhile
        (its waits poll `stop`, as the pool's do); the old code wrote none."""
        assert stop is not None
        wait_until(lambda: stop() or len(before_any()) >= 2, "lines while a file decodes", 15)
        yield from real(items, stop)

    monkeypatch.setattr(probe_pool, "decode_many", slow)
    job = run_job(runtime, "library_verify", {"path": "audio"})
    assert job.status == "completed", job.error
    assert len(before_any()) >= 2  # written while the first file decoded


def test_verify_is_cancelled_under_slow_pacing(runtime: Runtime) -> None:
    scan(runtime)
    with runtime.db.unit_of_work() as session:
        from mediashelf.jobs.service import cancel_job, create_job

        job_id = create_job(session, runtime.registry, runtime.clock, kind="library_verify",
                            params={"max_files_per_s": 0.05}, trigger="cli").id  # fmt: skip
    assert runtime.worker is not None  # started by the scan above
    runtime.worker.wake()
    _wait_processed(runtime, job_id)
    with runtime.db.unit_of_work() as session:
        cancel_job(session, runtime.clock, job_id, actor="test")
    job = wait_for_job(runtime, job_id, timeout_s=10)
    assert job.status == "cancelled"
    assert job.summary is not None
    assert job.summary.startswith("Verification cancelled after")


def _wait_processed(runtime: Runtime, job_id: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with runtime.db.unit_of_work() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status == "running" and job.progress.get("total"):
                return
        time.sleep(0.05)
    raise AssertionError("verification did not start")


def test_cli_problems_verify_and_release(
    database: Database, library: Path, probe_pool: ProbePool
) -> None:
    env = {
        "MEDIASHELF_DATABASE_URL": database.url, "MEDIASHELF_LIBRARY": str(library),
        "MEDIASHELF_PROBE_PROCESSES": "2",
    }  # fmt: skip
    assert runner.invoke(app, ["scan"], env=env).exit_code == 0
    listed = runner.invoke(app, ["problems", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.stdout)
    assert payload["counts"] == {"corrupt": 3, "empty": 1}
    assert {item["problem_class"] for item in payload["items"]} == {"corrupt", "empty"}
    only = json.loads(
        runner.invoke(app, ["problems", "--class", "empty", "--json"], env=env).stdout
    )
    assert [item["relpath"] for item in only["items"]] == ["broken/empty.mp3"]
    assert runner.invoke(app, ["problems", "--class", "nope"], env=env).exit_code == 2
    text = runner.invoke(app, ["problems"], env=env)
    assert "4 problems" in text.stdout

    verified = runner.invoke(app, ["verify", "--path", "audio", "--json"], env=env)
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["kind"] == "library_verify"
    assert runner.invoke(app, ["verify", "--path", "../etc"], env=env).exit_code == 2

    retried = runner.invoke(app, ["problems", "retry", "--class", "empty", "--json"], env=env)
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["workers_alive"] is False
    job_id = json.loads(retried.stdout)["job_id"]
    again = runner.invoke(app, ["problems", "retry", "--class", "empty"], env=env)
    assert again.stdout.startswith(f"Joined the active job {job_id}; follow it with")
    assert "No worker is running: it starts when `mediashelf worker`" in again.stdout
    # The queued retry blocks a full scan, and nothing would ever run it: the refusal says so.
    refused = runner.invoke(app, ["scan", "--json"], env=env)
    assert refused.exit_code == 1, refused.output
    error = json.loads(refused.stdout)["error"]
    assert f"job {job_id}" in error
    assert "No worker is running to start it" in error
    assert f"mediashelf jobs cancel {job_id}" in error
    neither = runner.invoke(app, ["problems", "retry", "--json"], env=env)
    assert neither.exit_code == 2
    assert "VIDEO_ID or --class" in json.loads(neither.stdout)["error"]
    released = runner.invoke(app, ["problems", "release", _video_id(database, "audio/plain.mp3")],
                             env=env)  # fmt: skip
    assert released.exit_code == 2  # not quarantined: an invalid request
