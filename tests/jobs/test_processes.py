"""The job engine across real worker processes: exactly-once claims, SIGKILL and SIGSTOP
mid-scan, cancel through a live worker, and schedules that fire once per slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from mediashelf.clock import SystemClock
from mediashelf.db.schema import Job, ScheduleFire, Track
from mediashelf.db.schema import Worker as WorkerRow
from mediashelf.db.session import Database
from mediashelf.jobs.service import cancel_job, create_job, get_job
from mediashelf.jobs.store import JobStore
from mediashelf.runtime import Runtime
from tests.conftest import make_runtime
from tests.jobs import kinds
from tests.jobs.conftest import DEMO_FILES
from tests.polling import holds_within, wait_until

REPO = Path(__file__).resolve().parents[2]
LEASE_S = 1.5
FINISHED = ("completed", "failed", "cancelled")


@dataclass
class WorkerProcess:
    """One `mediashelf worker` process and where its stderr goes."""

    name: str
    proc: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.proc.pid

    def stderr(self) -> str:
        """Return what the process wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace")


@dataclass
class Workers:
    """Starts worker processes and always ends them (and their probe pools)."""

    tmp_path: Path
    env: dict[str, str]
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, name: str, concurrency: int = 1) -> WorkerProcess:
        """Start `mediashelf worker` as its own process group."""
        stderr_path = self.tmp_path / f"{name}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mediashelf.cli", "worker", "--concurrency",
                 str(concurrency)],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, start_new_session=True,
            )  # fmt: skip
        worker = WorkerProcess(name, proc, stderr_path)
        self.started.append(worker)
        return worker

    def stop(self, worker: WorkerProcess, timeout_s: float = 20.0) -> None:
        """Ask `worker` to shut down cleanly and wait for it."""
        worker.proc.send_signal(signal.SIGTERM)
        worker.proc.wait(timeout_s)

    def kill_all(self) -> None:
        """SIGKILL every started process group (worker plus probe pool) and reap it."""
        for worker in self.started:
            with suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.proc.wait(10)

    def diagnostics(self) -> str:
        """Return the tail of every worker's stderr."""
        return "\n".join(
            f"--- {w.name} (pid {w.pid}) ---\n{w.stderr()[-3000:]}" for w in self.started
        )


@contextmanager
def worker_processes(
    tmp_path: Path, database: Database, library: Path | None, **extra: str
) -> Iterator[Workers]:
    """Yield a Workers launcher over `database` and `library`; kill everything at the end."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEDIASHELF_")}
    env |= {
        "MEDIASHELF_DATABASE_URL": database.url,
        "MEDIASHELF_DATA_DIR": str(tmp_path / "data"),
        "MEDIASHELF_JOB_MODULES": "tests.jobs.kinds",
        "MEDIASHELF_HEARTBEAT_S": "0.2",
        "MEDIASHELF_LEASE_S": str(LEASE_S),
        "MEDIASHELF_POLL_S": "0.05",
        "MEDIASHELF_PROBE_PROCESSES": "1",
        "MEDIASHELF_PROBE_TIMEOUT_S": "20",
        "MEDIASHELF_JOB_RETRY_BASE_S": "0.1",
        "MEDIASHELF_JOB_RETRY_MAX_S": "0.5",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if library is not None:
        env["MEDIASHELF_LIBRARY"] = str(library)
    workers = Workers(tmp_path, env | extra)
    try:
        yield workers
    finally:
        workers.kill_all()


def wait_for(
    what: str, predicate: Callable[[], bool], workers: Workers, timeout_s: float = 60.0
) -> None:
    """Wait until `predicate()` holds; fail with the workers' stderr after `timeout_s`."""
    try:
        wait_until(predicate, what, timeout_s)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{workers.diagnostics()}") from None


def load(db: Database, job_id: int) -> Job:
    """Return the job as stored now."""
    with db.unit_of_work() as session:
        return get_job(session, job_id)


def scalar(db: Database, query: Any) -> Any:
    """Run one scalar query."""
    with db.unit_of_work() as session:
        return session.scalar(query)


def enqueue(runtime: Runtime, kind: str, params: dict[str, Any]) -> int:
    """Create one job (no worker runs in this process)."""
    with runtime.db.unit_of_work() as session:
        job = create_job(
            session, runtime.registry, runtime.clock, kind=kind, params=params, trigger="cli",
            actor="test",
        )  # fmt: skip
        return job.id


def job_messages(db: Database, job_id: int, stream: str = "job") -> list[tuple[int, str]]:
    """Return (attempt, message) of the job's log lines, oldest first."""
    with db.unit_of_work() as session:
        lines = JobStore(session).logs(job_id, stream, 0, 100_000)
        return [(line.attempt, line.message) for line in lines]


def checkpoint_processed(job: Job) -> int:
    """Return how many files the job's last committed batch brought it to."""
    return int(((job.checkpoint or {}).get("counters") or {}).get("processed", 0))


def track_counts(db: Database) -> dict[str, int]:
    """Return the tracks counted by probe status."""
    with db.unit_of_work() as session:
        rows = session.execute(
            select(Track.probe_status, func.count()).group_by(Track.probe_status)
        )
        return {status: int(count) for status, count in rows}


# -- exactly once ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """What a run of `record` jobs across worker processes left behind."""

    lines: list[tuple[str, str, str]]
    worker_pids: set[str]
    completed: int


def run_records(database: Database, tmp_path: Path, count: int, workers_n: int = 4) -> Recorded:
    """Start `workers_n` workers, then enqueue `count` record jobs and wait for all of them."""
    record = tmp_path / "record.txt"
    runtime = make_runtime(database, None, job_modules=("tests.jobs.kinds",))
    clock = SystemClock()
    with worker_processes(tmp_path, database, None) as workers:
        for number in range(workers_n):
            workers.start(f"w{number}", concurrency=2)

        def all_registered() -> bool:
            return bool(scalar(database, select(func.count()).select_from(WorkerRow)) == workers_n)

        wait_for(f"{workers_n} workers to register", all_registered, workers)
        with database.unit_of_work() as session:  # one commit: every worker sees all at once
            for _ in range(count):
                create_job(
                    session, runtime.registry, clock, kind=kinds.RECORD,
                    params={"path": str(record)}, trigger="cli", actor="test",
                )  # fmt: skip

        def all_done() -> bool:
            done = scalar(database, select(func.count()).where(Job.status.in_(FINISHED)))
            return bool(done == count)

        wait_for(f"{count} jobs to finish", all_done, workers, timeout_s=90)
        completed = scalar(database, select(func.count()).where(Job.status == "completed"))
        pids = {str(w.pid) for w in workers.started}
    lines = []
    for line in record.read_text().splitlines():
        job_id, attempt, pid = line.split()
        lines.append((job_id, attempt, pid))
    return Recorded(lines, pids, int(completed))


@pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)
def test_four_workers_run_each_job_exactly_once(database: Database, tmp_path: Path) -> None:
    recorded = run_records(database, tmp_path, 200)
    assert recorded.completed == 200
    assert len(recorded.lines) == 200
    per_job = Counter(job_id for job_id, _, _ in recorded.lines)
    assert len(per_job) == 200
    assert set(per_job.values()) == {1}
    assert {attempt for _, attempt, _ in recorded.lines} == {"1"}
    assert {pid for _, _, pid in recorded.lines} <= recorded.worker_pids


@pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)
def test_four_workers_share_the_queue(database: Database, tmp_path: Path) -> None:
    recorded = run_records(database, tmp_path, 40)
    assert len(recorded.lines) == 40
    pids = Counter(pid for _, _, pid in recorded.lines)
    assert len(pids) > 1, f"one worker (concurrency 2) claimed every job: {pids}"


# -- a library scan through crashes, stops and cancels ------------------------------------


def start_scan(database: Database, library: Path, **params: Any) -> tuple[Runtime, int]:
    """Enqueue a library_scan of `library` with `params`."""
    runtime = make_runtime(database, library, job_modules=("tests.jobs.kinds",))
    return runtime, enqueue(runtime, "library_scan", params)


def wait_for_progress(database: Database, job_id: int, workers: Workers, processed: int) -> Job:
    """Wait until the job's committed checkpoint counts at least `processed` files."""
    seen: list[Job] = []

    def far_enough() -> bool:
        job = load(database, job_id)
        seen[:] = [job]
        assert job.status not in FINISHED, f"job ended early: {job.status} {job.summary}"
        return checkpoint_processed(job) >= processed

    wait_for(f"{processed} files processed", far_enough, workers)
    return seen[0]


def test_sigkill_mid_scan_resumes_on_another_worker(
    database: Database, demo_library: Path, tmp_path: Path
) -> None:
    _, job_id = start_scan(database, demo_library, batch_size=25, throttle_ms=100)
    with worker_processes(tmp_path, database, demo_library) as workers:
        a = workers.start("A")
        running = wait_for_progress(database, job_id, workers, processed=50)
        a_id = running.worker_id
        assert a_id is not None
        assert f":{a.pid}:" in a_id
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait(10)
        b = workers.start("B")
        wait_for("the scan to end", lambda: load(database, job_id).status in FINISHED, workers)
        job = load(database, job_id)

        assert job.status == "completed", (job.summary, workers.diagnostics())
        assert job.attempt == 2
        assert job.worker_id is not None
        assert job.worker_id != a_id
        assert f":{b.pid}:" in job.worker_id
    assert len(job.errors) == 1
    assert job.errors[0]["error"].startswith("interrupted")
    assert job.errors[0]["worker"] == a_id
    assert job.progress["added"] == DEMO_FILES
    assert job.progress["processed"] == DEMO_FILES
    assert job.progress["total"] == DEMO_FILES
    assert job.progress["failed"] == 0
    assert job.result is not None
    assert job.result["added"] == DEMO_FILES
    assert track_counts(database) == {"ok": DEMO_FILES}
    messages = job_messages(database, job_id)
    assert any(attempt == 2 and "resuming after" in m for attempt, m in messages), messages


def stopped_in_a_transaction(database: Database) -> bool:
    """Tell whether a PostgreSQL session stays inside a transaction (a stopped worker's)."""
    if database.engine.dialect.name != "postgresql":
        return False

    def stalled() -> bool:
        with database.unit_of_work() as session:
            found = session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
                " AND state_change < now() - interval '0.3 seconds'"
            ))  # fmt: skip
        return bool(found)

    return holds_within(stalled, 1.0)  # long enough for a stalled transaction to age 0.3 s


def stop_until_taken(database: Database, job_id: int, a: WorkerProcess, workers: Workers) -> Job:
    """SIGSTOP `a` until another worker claims its job; return the job as claimed.

    A process stopped inside a write transaction holds its locks (SQLite's database lock, a
    PostgreSQL row lock on the job), so the rescuer cannot claim until it runs again: then
    let it run a moment and stop it anew. On PostgreSQL such a stop is seen at once.
    """
    for _ in range(6):
        os.kill(a.pid, signal.SIGSTOP)
        if stopped_in_a_transaction(database):
            resume_until_it_beats(database, job_id, a)
            continue
        deadline = time.monotonic() + LEASE_S * 8
        while time.monotonic() < deadline:
            job = load(database, job_id)
            if job.attempt >= 2 and job.status == "running":
                return job
            assert job.status not in FINISHED, (job.status, job.summary)
            time.sleep(0.1)
        resume_until_it_beats(database, job_id, a)
    raise AssertionError(f"no other worker claimed the job\n{workers.diagnostics()}")


def resume_until_it_beats(database: Database, job_id: int, a: WorkerProcess) -> None:
    """Let the stopped worker run again until it has renewed its job's heartbeat (and so
    ended the transaction it was stopped in)."""
    before = load(database, job_id).heartbeat_at
    os.kill(a.pid, signal.SIGCONT)
    wait_until(lambda: load(database, job_id).heartbeat_at != before, "the worker to beat again",
               timeout_s=10)  # fmt: skip


def test_sigstop_past_the_lease_fences_the_stopped_worker_out(
    database: Database, demo_library: Path, tmp_path: Path
) -> None:
    _, job_id = start_scan(database, demo_library, batch_size=25, throttle_ms=100)
    with worker_processes(tmp_path, database, demo_library) as workers:
        a = workers.start("A")
        running = wait_for_progress(database, job_id, workers, processed=50)
        a_id = running.worker_id
        b = workers.start("B")
        taken = stop_until_taken(database, job_id, a, workers)
        assert taken.worker_id != a_id
        assert f":{b.pid}:" in (taken.worker_id or "")
        os.kill(a.pid, signal.SIGCONT)

        wait_for("the scan to end", lambda: load(database, job_id).status in FINISHED, workers)
        job = load(database, job_id)
        assert job.status == "completed", (job.summary, workers.diagnostics())
        assert job.worker_id == taken.worker_id
        assert job.attempt == 2
        wait_for("A to notice", lambda: "taken away" in a.stderr(), workers, timeout_s=20)
        assert a.proc.poll() is None  # A survives and keeps serving

    assert job.progress["added"] == DEMO_FILES
    assert job.progress["processed"] == DEMO_FILES
    assert track_counts(database) == {"ok": DEMO_FILES}
    assert [entry["worker"] for entry in job.errors] == [a_id]


def test_cancel_mid_scan_through_a_worker_process_keeps_committed_work(
    database: Database, demo_library: Path, tmp_path: Path
) -> None:
    _, job_id = start_scan(database, demo_library, batch_size=20, throttle_ms=200)
    with worker_processes(tmp_path, database, demo_library) as workers:
        workers.start("A")
        wait_for_progress(database, job_id, workers, processed=40)
        with database.unit_of_work() as session:
            requested = cancel_job(session, SystemClock(), job_id, actor="test")
            at_cancel = dict(requested.progress)
        assert requested.status == "running"
        wait_for("the cancel", lambda: load(database, job_id).status in FINISHED, workers, 20)
        job = load(database, job_id)

    assert job.status == "cancelled", job.summary
    assert job.cancel_requested_at is not None
    assert at_cancel["processed"] < at_cancel["total"] == DEMO_FILES
    assert job.progress["processed"] < DEMO_FILES
    assert job.summary is not None
    assert "cancelled" in job.summary
    counts = track_counts(database)
    assert sum(counts.values()) == job.progress["added"] > 0
    assert set(counts) == {"ok"}


# -- schedules ------------------------------------------------------------------------------


def test_schedule_fires_once_per_slot_across_two_workers(
    database: Database, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-library"
    empty.mkdir()
    with worker_processes(
        tmp_path, database, empty, MEDIASHELF_SCAN_SCHEDULE="* * * * * */2"
    ) as workers:
        first, second = workers.start("A"), workers.start("B")

        def three_slots() -> bool:
            fired = scalar(database, select(func.count()).select_from(ScheduleFire))
            return bool(fired >= 3)

        wait_for("three schedule slots", three_slots, workers, timeout_s=40)
        workers.stop(first)
        workers.stop(second)
        assert first.proc.returncode == 0, workers.diagnostics()
        assert second.proc.returncode == 0, workers.diagnostics()

    with database.unit_of_work() as session:
        fires = session.execute(select(ScheduleFire.fire_at, ScheduleFire.job_id)).all()
        scheduled = session.execute(
            select(Job.id, Job.status, Job.summary).where(
                Job.kind == "library_scan", Job.trigger == "schedule"
            )
        ).all()
    fired_jobs = [job_id for _, job_id in fires if job_id is not None]
    assert len({fire_at for fire_at, _ in fires}) == len(fires) >= 3
    assert len(fired_jobs) >= 2
    assert len(set(fired_jobs)) == len(fired_jobs)  # no job serves two slots
    assert sorted(fired_jobs) == sorted(job_id for job_id, _, _ in scheduled)  # one job a slot
    finished = [(status, summary) for _, status, summary in scheduled if status in FINISHED]
    assert finished
    assert all(status == "completed" for status, _ in finished), finished


# -- scale-out ------------------------------------------------------------------------------


def fanout_workers(
    database: Database, library: Path, tmp_path: Path
) -> AbstractContextManager[Workers]:
    """Return the worker launcher for fanned-out scans in chunks of 60 writes."""
    return worker_processes(tmp_path, database, library, MEDIASHELF_SCAN_CHUNK_SIZE="60")


@pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)  # SQLite: in-process
def test_a_scan_fans_out_across_three_worker_processes(
    database: Database, demo_library: Path, tmp_path: Path
) -> None:
    runtime = make_runtime(database, demo_library, scan_fanout="on", scan_chunk_size=60)
    with fanout_workers(database, demo_library, tmp_path) as workers:
        for name in ("a", "b", "c"):
            workers.start(name, concurrency=2)
        job_id = enqueue(runtime, "library_scan", {"batch_size": 20})
        wait_for("the scan to end", lambda: load(database, job_id).status in FINISHED, workers,
                 timeout_s=180)  # fmt: skip
        job = load(database, job_id)
        assert job.status == "completed", (job.error, workers.diagnostics())
        with database.unit_of_work() as session:
            children = list(session.scalars(select(Job).where(Job.parent_id == job_id)))
        assert len(children) >= 8
        assert {c.status for c in children} == {"completed"}
        assert [c.attempt for c in children] == [1] * len(children)  # nobody ran one twice
        assert len({c.worker_id for c in children}) >= 2  # the work was shared
        assert job.progress["added"] == DEMO_FILES
        assert sum(c.progress["added"] for c in children) == DEMO_FILES
        assert job.progress["processed"] == job.progress["total"] == DEMO_FILES
        assert track_counts(database) == {"ok": DEMO_FILES}


@pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)
def test_a_worker_killed_mid_chunk_loses_and_double_counts_nothing(
    database: Database, demo_library: Path, tmp_path: Path
) -> None:
    runtime = make_runtime(database, demo_library, scan_fanout="on", scan_chunk_size=60)
    with fanout_workers(database, demo_library, tmp_path) as workers:
        a = workers.start("A")
        job_id = enqueue(runtime, "library_scan", {"batch_size": 20, "throttle_ms": 100})
        seen: list[Job] = []

        def a_chunk_half_done() -> bool:
            with database.unit_of_work() as session:
                running = session.scalars(
                    select(Job).where(Job.parent_id == job_id, Job.status == "running")
                ).all()
                seen[:] = [c for c in running if checkpoint_processed(c) >= 20]
                return bool(seen)

        wait_for("a chunk to commit a batch", a_chunk_half_done, workers, timeout_s=120)
        chunk = seen[0]
        assert chunk.worker_id is not None
        assert f":{a.pid}:" in chunk.worker_id
        os.kill(a.pid, signal.SIGKILL)
        a.proc.wait(10)
        workers.start("B")
        workers.start("C")
        wait_for("the scan to end", lambda: load(database, job_id).status in FINISHED, workers,
                 timeout_s=180)  # fmt: skip
        job = load(database, job_id)
        assert job.status == "completed", (job.error, workers.diagnostics())
        killed = load(database, chunk.id)
        assert killed.status == "completed"
        assert killed.attempt == 2  # taken over once, after A's lease ran out
        assert killed.errors[0]["error"].startswith("interrupted")
        with database.unit_of_work() as session:
            children = list(session.scalars(select(Job).where(Job.parent_id == job_id)))
    assert sum(c.progress["added"] for c in children) == DEMO_FILES  # nothing counted twice
    assert job.progress["added"] == job.progress["processed"] == DEMO_FILES
    assert track_counts(database) == {"ok": DEMO_FILES}  # nothing lost
