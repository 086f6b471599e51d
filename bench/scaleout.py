"""Scale-out scans on PostgreSQL: the same full scan with 1, 2 and 4 worker processes.

A demo library of `--files` clips is scanned into a fresh PostgreSQL database by separate
`mediashelf worker` processes (concurrency 1 and one probe process each, so a worker is one
core's worth of work). The scan fans out into `library_scan_chunk` jobs of `--chunk` writes
that the workers share. Timed from enqueue to the parent's completion; reported with the
speed-up against one worker and how many chunks each worker ran, with how many of the
machine's cores were busy meanwhile (all processes: the workers, their probe processes and
the PostgreSQL server, from /proc/stat): a speed-up can only be near-linear while cores are
left idle. Expect near-linear up to the number of cores, and nothing more beyond it.

One machine cannot show what several hosts do, since every worker shares its cores.
`--host-cores F` models hosts: each worker, with its probe process, runs in a cgroup of its
own whose CPU quota is F cores (cgroup v1 `cpu.cfs_quota_us`, or v2 `cpu.max`). The
PostgreSQL server stays outside the quotas, as a database host would. With 4 workers of
0.4 cores, 1.6 of 2 cores are the workers' and the rest is left to the database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from mediashelf.clock import SystemClock
from mediashelf.config import Settings
from mediashelf.db.engine import normalize_url
from mediashelf.db.migrate import upgrade
from mediashelf.db.schema import Job, Worker
from mediashelf.db.session import Database
from mediashelf.demo_library import write_demo_library
from mediashelf.jobs.service import create_job
from mediashelf.library.tasks import build_registry
from mediashelf.probe.pool import ProbePool

REPO = Path(__file__).resolve().parents[1]
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class HostQuota:
    """A CPU cgroup capped at `cores` cores: one modelled host for one worker process tree."""

    def __init__(self, cores: float, index: int) -> None:
        name = f"mediashelf-bench-host-{os.getpid()}-{index}"
        quota = max(1000, int(cores * PERIOD_US))
        if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
            self.path = CGROUP_V1_CPU / name
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
            (self.path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
        elif "cpu" in (CGROUP_V2 / "cgroup.controllers").read_text().split():
            self.path = CGROUP_V2 / name
            self.path.mkdir()
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
        else:
            raise OSError("no cgroup CPU controller")

    def wrap(self, command: Sequence[str]) -> list[str]:
        """Return `command` run by a shell that first moves itself into this cgroup, so the
        worker and every process it starts (its probe pool) are counted against the quota."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh", *command]

    def remove(self) -> None:
        """Remove the cgroup (it is empty once the worker's processes ended)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def fresh_database(admin_url: str) -> str:
    """Create an empty database next to `admin_url`'s; return its URL."""
    server = make_url(normalize_url(admin_url))
    name = f"mediashelf_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the bench's database."""
    parsed = make_url(normalize_url(url))
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    engine.dispose()


def run_once(
    library: Path, url: str, workers: int, chunk: int, host_cores: float | None = None
) -> dict[str, Any]:
    """Scan `library` with `workers` worker processes, each in a modelled host of
    `host_cores` cores when given; return timings and chunk spread."""
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(db)
    env = {**os.environ, "MEDIASHELF_DATABASE_URL": url, "MEDIASHELF_LIBRARY": str(library),
           "MEDIASHELF_PROBE_PROCESSES": "1", "MEDIASHELF_SCAN_CHUNK_SIZE": str(chunk),
           "MEDIASHELF_POLL_S": "0.2"}  # fmt: skip
    command = [sys.executable, "-m", "mediashelf.cli", "worker", "--concurrency", "1"]
    quiet = subprocess.DEVNULL
    hosts = [HostQuota(host_cores, i) for i in range(workers)] if host_cores else []
    procs = [
        subprocess.Popen(
            hosts[i].wrap(command) if hosts else command,
            env=env,
            cwd=REPO,
            stdout=quiet,
            stderr=quiet,
            start_new_session=True,
        )
        for i in range(workers)
    ]
    try:
        settings = Settings(library=library, database_url=url, scan_chunk_size=chunk)
        registry = build_registry(settings, _no_pool)
        _wait_for_workers(db, workers)  # they start and register before the clock runs
        start, busy_before = time.perf_counter(), _busy_s()
        with db.unit_of_work() as session:
            job_id = create_job(session, registry, SystemClock(), kind="library_scan",
                                params={"batch_size": 100}, trigger="cli").id  # fmt: skip
        job = _wait(db, job_id)
        seconds = time.perf_counter() - start
        busy = _busy_s() - busy_before
        with db.unit_of_work() as session:
            chunks = list(session.scalars(select(Job).where(Job.parent_id == job_id)))
            parent = session.get(Job, job_id)
            assert parent is not None
            phases = _phases(parent, chunks)
        spread = Counter(c.worker_id for c in chunks)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        _wait_emptied(hosts)
        db.dispose()
    return {"workers": workers, "seconds": round(seconds, 2), "status": job.status,
            "files": job.progress.get("processed"), "chunks": len(chunks),
            "chunks_per_worker": sorted(spread.values(), reverse=True),
            "cores_busy": round(busy / seconds, 2), **phases}  # fmt: skip


def _phases(parent: Job, chunks: list[Job]) -> dict[str, float]:
    """Split the scan: until the parent is claimed, its walk and diff, the chunks' span (from
    the parent enqueuing them to the last one's end), and until the parent ended after them."""
    created = min(c.created_at for c in chunks)
    ended = max(c.finished_at for c in chunks if c.finished_at is not None)
    assert parent.started_at is not None
    assert parent.finished_at is not None
    return {
        "claim_s": round((parent.started_at - parent.created_at).total_seconds(), 2),
        "walk_s": round((created - parent.started_at).total_seconds(), 2),
        "chunks_s": round((ended - created).total_seconds(), 2),
        "after_s": round((parent.finished_at - ended).total_seconds(), 2),
    }


def _busy_s() -> float:
    """Return the CPU seconds every core of the machine has spent busy since boot."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _wait_emptied(hosts: list[HostQuota], timeout_s: float = 30) -> None:
    """Remove the host cgroups once the workers' probe processes have left them too."""
    deadline = time.monotonic() + timeout_s
    for host in hosts:
        while (host.path / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.1)
        host.remove()


def _no_pool() -> ProbePool:
    raise RuntimeError("the bench's own process probes nothing")


def _wait_for_workers(db: Database, count: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.unit_of_work() as session:
            if (session.scalar(select(func.count()).select_from(Worker)) or 0) >= count:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{count} workers did not start")


def _wait(db: Database, job_id: int, timeout_s: float = 3600) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.unit_of_work() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status in ("completed", "failed", "cancelled"):
                session.expunge(job)
                return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not end")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scans and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=200, help="writes per chunk job")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "MEDIASHELF_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--keep", type=Path, help="library folder, reused when present")
    parser.add_argument("--host-cores", type=float, help="model hosts: a CPU quota per worker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    library = args.keep or Path(tempfile.mkdtemp(prefix="scaleout-")) / "library"
    if not library.exists() or not any(library.rglob("*.*")):
        write_demo_library(library, args.files)
    url = fresh_database(args.database)
    try:
        runs = [
            run_once(library, url, int(n), args.chunk, args.host_cores)
            for n in args.workers.split(",")
        ]
    finally:
        drop_database(url)
    base = runs[0]["seconds"]
    for run in runs:
        run["files_per_s"] = round((run["files"] or 0) / run["seconds"], 1)
        run["speedup"] = round(base / run["seconds"], 2)
    if args.json:
        print(json.dumps({"cores": os.cpu_count(), "host_cores": args.host_cores, "runs": runs},
                         indent=2))  # fmt: skip
    else:
        hosts = f", each worker a host of {args.host_cores} cores" if args.host_cores else ""
        print(f"cores: {os.cpu_count()}, files: {runs[0]['files']}, chunk: {args.chunk} writes"
              f"{hosts}")  # fmt: skip
        print("| workers | seconds | files/s | speed-up | cores busy | parent claimed s | walk s "
              "| chunks s | chunks speed-up | parent ended s | chunks | chunks per worker "
              "| status |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for r in runs:
            print(
                f"| {r['workers']} | {r['seconds']} | {r['files_per_s']} | {r['speedup']}x | "
                f"{r['cores_busy']} of {os.cpu_count()} | {r['claim_s']} | {r['walk_s']} | "
                f"{r['chunks_s']} | {round(runs[0]['chunks_s'] / r['chunks_s'], 2)}x | "
                f"{r['after_s']} | {r['chunks']} | "
                f"{r['chunks_per_worker']} | {r['status']} |"
            )
    return 0 if all(r["status"] == "completed" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
