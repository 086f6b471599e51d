"""What people read about failures: one line with a class, no SQL, no parameters, no absolute
paths, at most 4 KB; the technical detail stays in the job log (debug). Also: a bad schedule
stops `mediashelf worker` with one line, and one failing housekeeping step spares the rest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from mediashelf.db.schema import Job, JobLog, Track
from mediashelf.db.session import Database
from mediashelf.jobs import worker as worker_module
from mediashelf.library.scan_apply import Batch, BatchWriter
from mediashelf.probe.pool import ProbePool
from mediashelf.runtime import Runtime
from tests.conftest import make_runtime, run_job, scan
from tests.jobs.outage_tools import LONG_ERROR, long_text
from tests.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
KINDS = ("tests.jobs.outage_tools",)
MAX_TEXT = 4096
TECHNICAL = ("INSERT", "[SQL:", "[parameters:", "Traceback", "sqlalche.me")


@pytest.fixture
def runtimes() -> Iterator[list[Runtime]]:
    """Runtimes a test builds; closed (worker stopped) at the end."""
    built: list[Runtime] = []
    yield built
    for runtime in built:
        if runtime.worker is not None:
            runtime.worker.stop()
            runtime.worker = None


def stored_texts(job: Job) -> dict[str, str]:
    """Return every user-facing text the job stores: error, summary, each attempt's error."""
    texts = {"error": job.error or "", "summary": job.summary or ""}
    for index, entry in enumerate(job.errors or []):
        texts[f"errors[{index}]"] = str(entry.get("error") or "")
    return texts


def job_log(db: Database, job_id: int) -> list[tuple[str, str]]:
    """Return (level, message) of the job's `job` stream, oldest first."""
    with db.unit_of_work() as session:
        query = select(JobLog.level, JobLog.message).where(
            JobLog.job_id == job_id, JobLog.stream == "job"
        )
        return [(level, message) for level, message in session.execute(query.order_by(JobLog.id))]


def presentation_problems(job: Job, *secrets: str) -> list[str]:
    """Return how the job's stored texts break the rules: one line, nothing technical, no
    absolute path or `secrets`, at most 4 KB (UTF-8 bytes)."""
    problems: list[str] = []
    for where, text in stored_texts(job).items():
        if "\n" in text or "\r" in text:
            problems.append(f"{where}: more than one line: {text!r}")
        if len(text.encode()) > MAX_TEXT:
            problems.append(f"{where}: {len(text.encode())} bytes > {MAX_TEXT}")
        problems += [
            f"{where}: shows {marker!r}: {text!r}" for marker in TECHNICAL if marker in text
        ]
        problems += [f"{where}: shows {secret!r}: {text!r}" for secret in secrets if secret in text]
        if re.search(r"(^|[\s(\"'=])/[^\s/]+/", text):
            problems.append(f"{where}: shows an absolute path: {text!r}")
    return problems


def assert_presentable(job: Job, *secrets: str) -> None:
    """Assert the job stores an error and an attempt record, and that every text is fit to show."""
    assert job.error, "the failed job stores no error"
    assert job.errors, "the failed job stores no attempt record"
    assert all(entry["class"] for entry in job.errors), job.errors
    problems = presentation_problems(job, *secrets)
    assert not problems, "\n".join(problems)


# -- 1: a database error in a scan's batch write ---------------------------------------------


def test_database_error_in_a_batch_shows_a_class_and_one_line(
    runtime: Runtime, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = str(library / "audio" / "plain.mp3")
    real_write = BatchWriter.write

    def write_then_clash(self: BatchWriter, batch: Batch) -> None:
        real_write(self, batch)
        row = {
            "video_id": "clash-0001", "relpath": f"clash{secret}", "title": secret,
            "filetype": "mp3", "probe_status": "ok", "probe_failures": 0, "added_at": self.now,
            "updated_at": self.now,
        }  # fmt: skip
        for _ in range(2):  # the second insert breaks the unique video_id: a real IntegrityError
            self.store.session.execute(insert(Track).values(**row))

    monkeypatch.setattr(BatchWriter, "write", write_then_clash)
    job = scan(runtime)

    assert job.status == "failed", job.status
    assert_presentable(job, secret, str(library))
    classes = [(entry["class"], entry["error"]) for entry in job.errors]
    assert {cls for cls, _ in classes} == {"IntegrityError"}, classes
    for where, stored in stored_texts(job).items():  # the class, in words people can search
        assert re.search(r"\((IntegrityError|UniqueViolation)\)", stored), (where, stored)
    lines = job_log(runtime.db, job.id)
    technical = [(level, m) for level, m in lines if "[SQL:" in m or "INSERT INTO" in m]
    assert technical, "the job log lacks the statement that failed"
    assert {level for level, _ in technical} == {"debug"}, technical
    with runtime.db.unit_of_work() as session:  # every batch rolled back with its error
        assert session.scalar(select(func.count()).select_from(Track)) == 0


# -- 2: an OSError naming an absolute path ---------------------------------------------------


def test_os_error_shows_at_most_the_last_path_component(
    database: Database, library: Path, tmp_path: Path, probe_pool: ProbePool,
    runtimes: list[Runtime], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = tmp_path / "My Media" / "Library Root"  # folders with spaces, as libraries have
    root.parent.mkdir()
    shutil.move(library, root)
    runtime = make_runtime(database, root, probe_pool)
    runtimes.append(runtime)
    vanished = root / "audio" / "gone away.mp3"

    def write_reading_a_vanished_file(self: BatchWriter, batch: Batch) -> None:
        del self, batch
        with open(vanished, "rb"):  # a real FileNotFoundError naming the absolute path
            pass

    monkeypatch.setattr(BatchWriter, "write", write_reading_a_vanished_file)
    job = scan(runtime)

    assert job.status == "failed", job.status
    assert all(entry["class"] == "FileNotFoundError" for entry in job.errors), job.errors
    assert_presentable(job, str(tmp_path), "My Media", "Library Root", "audio/")
    assert "gone away.mp3" in (job.error or "")  # the last component may stay, nothing more
    detail = " ".join(m for level, m in job_log(database, job.id) if level == "debug")
    assert str(vanished) in detail  # the whole path is in the job log's debug detail


# -- 3: a message longer than 4 KB -----------------------------------------------------------


@pytest.mark.parametrize("typed", [False, True], ids=["RuntimeError", "MediashelfError"])
def test_very_long_message_is_capped_in_the_job_and_whole_in_the_log(
    database: Database, runtimes: list[Runtime], typed: bool
) -> None:
    runtime = make_runtime(database, None, job_modules=KINDS)
    runtimes.append(runtime)
    message = long_text(10_000)
    job = run_job(runtime, LONG_ERROR, {"length": len(message), "typed": typed}, timeout_s=30)

    assert job.status == "failed"
    problems = presentation_problems(job)
    assert not problems, "\n".join(problems)
    assert job.error is not None
    assert message[:100] in job.error  # the start of the message, cut
    assert message[-100:] not in job.error
    lines = [m for _, m in job_log(database, job.id)]
    assert any(message in m for m in lines), "the whole message is not in the job log"


# -- 4: schedules ----------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "61 * * * *"])
def test_worker_refuses_an_unusable_schedule_in_one_line(tmp_path: Path, expression: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDIASHELF_")}
    env |= {
        "MEDIASHELF_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "MEDIASHELF_LIBRARY": str(tmp_path), "MEDIASHELF_SCAN_SCHEDULE": expression,
        "PYTHONPATH": str(REPO / "src"), "COLUMNS": "80",
    }  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "mediashelf.cli", "worker"], cwd=REPO, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "MEDIASHELF_SCAN_SCHEDULE" in lines[0]
    assert "Traceback" not in proc.stderr


def add_old_finished(db: Database, runtime: Runtime, count: int, days: int) -> list[int]:
    """Insert `count` completed library scans that finished `days` ago (directly)."""
    finished = runtime.clock.now() - timedelta(days=days)
    ids: list[int] = []
    with db.unit_of_work() as session:
        for _ in range(count):
            job = Job(
                kind="library_scan", status="completed", priority=0, params={},
                created_at=finished, run_at=finished, started_at=finished, finished_at=finished,
                attempt=1, max_attempts=3, trigger="api", progress={}, errors=[], summary="old",
            )  # fmt: skip
            session.add(job)
            session.flush()
            ids.append(job.id)
    return ids


def test_a_failing_schedule_step_does_not_stop_pruning(
    database: Database, tmp_path: Path, runtimes: list[Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []

    def schedules_break(*args: Any) -> list[int]:
        calls.append(args)
        raise RuntimeError("test: the schedule step fails")

    monkeypatch.setattr(worker_module, "fire_schedules", schedules_break)
    library = tmp_path / "empty-library"
    library.mkdir()
    runtime = make_runtime(database, library, scan_schedule="* * * * *", job_retention_days=1)
    runtimes.append(runtime)
    ids = add_old_finished(database, runtime, 60, days=40)
    runtime.start_worker()

    def remaining() -> int:
        with database.unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(Job)) or 0)

    wait_until(lambda: remaining() == 50, "old finished jobs pruned down to the last 50", 20)
    assert calls, "the schedule step never ran (so it could not fail)"
    with database.unit_of_work() as session:
        left = set(session.scalars(select(Job.id)))
    assert left == set(ids[10:])  # the newest 50 of the kind are kept
