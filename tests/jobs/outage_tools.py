"""Real database faults for the outage tests, polling helpers, and job kinds that misbehave.

- `SqliteLock`: another process holds SQLite's write lock (`BEGIN EXCLUSIVE`) for a while.
- `PgTerminator`: a thread terminates every other backend of the test database in a loop.
- `outage(db, seconds)`: whichever of the two fits the database's dialect.
- `register`: extra job kinds (MEDIASHELF_JOB_MODULES=tests.jobs.outage_tools).
"""

from __future__ import annotations

import os
import select as io_select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from mediashelf.config import Settings
from mediashelf.db.engine import normalize_url
from mediashelf.db.schema import Job
from mediashelf.db.session import Database
from mediashelf.errors import MediashelfError
from mediashelf.jobs.context import JobContext
from mediashelf.jobs.registry import JobKind, JobOutcome, Registry
from mediashelf.jobs.service import get_job
from mediashelf.probe.pyav_backend import PyAVProber
from mediashelf.probe.result import ProbeResult
from tests.polling import wait_until

T = TypeVar("T")
FINISHED = ("completed", "failed", "cancelled")

# Runs in its own process: take SQLite's write lock, say so, hold it, give it back.
_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
conn.close()
print("released", flush=True)
"""


def patiently(db: Database, read: Callable[[Any], T], timeout_s: float = 30.0) -> T:
    """Run `read(session)` in a unit of work, repeating it while the database is away."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with db.unit_of_work() as session:
                return read(session)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def load_job(db: Database, job_id: int) -> Job:
    """Return the job as stored now (riding out a fault the test itself causes)."""
    return patiently(db, lambda session: get_job(session, job_id))


def wait_for_end(db: Database, job_id: int, timeout_s: float = 60.0) -> Job:
    """Poll until the job is completed, failed or cancelled; return it."""
    seen: list[Job] = []

    def ended() -> bool:
        seen[:] = [load_job(db, job_id)]
        return seen[0].status in FINISHED

    wait_until(ended, f"job {job_id} to end", timeout_s)
    return seen[0]


def sqlite_path(db: Database) -> str:
    """Return the file of a SQLite database."""
    path = make_url(db.url).database
    assert path, db.url
    return path


class SqliteLock:
    """Another process holding the SQLite database's write lock for `hold_s` seconds."""

    def __init__(self, path: str, hold_s: float) -> None:
        self.path = path
        self.hold_s = hold_s
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the holder and return once it holds the lock."""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, self.path, str(self.hold_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = io_select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().strip() if ready else ""
        if line != "locked":
            self.proc.kill()
            raise AssertionError(f"the lock holder did not take the lock: {line!r}")

    def wait(self, timeout_s: float = 60.0) -> None:
        """Wait until the holder gave the lock back."""
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=timeout_s)
        assert self.proc.returncode == 0, err
        assert "released" in out


class PgTerminator:
    """Terminate every other backend of the test database, over and over, for `seconds`."""

    def __init__(self, url: str, seconds: float) -> None:
        self.engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        self.seconds = seconds
        self.terminated = 0
        self.rounds = 0
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-terminator", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start terminating; return after the first round."""
        self._thread.start()
        assert self._first.wait(30), "the terminator never ran"

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                deadline = time.monotonic() + self.seconds
                while time.monotonic() < deadline:
                    killed = conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    ).scalar_one()
                    self.terminated += int(killed)
                    self.rounds += 1
                    self._first.set()
                    time.sleep(0.02)  # the pace of the fault, not a wait for anything
        except BaseException as exc:  # surfaced by wait()
            self._error = exc
            self._first.set()

    def wait(self) -> None:
        """Wait until the terminations stop."""
        self._thread.join(self.seconds + 30)
        self.engine.dispose()
        if self._error is not None:
            raise self._error


@contextmanager
def outage(db: Database, seconds: float) -> Iterator[Callable[[], str]]:
    """Make the database unavailable for about `seconds`, in the way its dialect allows.

    Yields a function describing what was done (for assertions that the fault was real).
    """
    if db.dialect == "sqlite":
        lock = SqliteLock(sqlite_path(db), seconds)
        lock.start()
        holder = lock.proc.pid if lock.proc else 0
        try:
            yield lambda: f"SQLite write lock held {seconds:g}s by process {holder}"
        finally:
            lock.wait()
        return
    terminator = PgTerminator(db.url, seconds)
    terminator.start()
    try:
        yield lambda: f"{terminator.terminated} backends terminated in {terminator.rounds} rounds"
    finally:
        terminator.wait()


# -- a library that goes away mid-scan -------------------------------------------------------


class VanishingProber:
    """Probe with PyAV; right after probing the file named `trigger`, rename the library
    root to `away` (once: a marker file beside `away` remembers it). Picklable for the pool."""

    name = "vanishing"

    def __init__(self, root: str, away: str, trigger: str, stray: str | None = None) -> None:
        self.root = root
        self.away = away
        self.trigger = trigger
        self.stray = stray  # a file left at the root's place: a mount point that is not empty
        self.delegate = PyAVProber()

    def probe(self, path: Path) -> ProbeResult:
        """Probe for real, then pull the library away if this was the trigger."""
        try:
            return self.delegate.probe(path)
        finally:
            marker = Path(self.away + ".done")
            if path.name == self.trigger and not marker.exists():
                marker.touch()
                os.rename(self.root, self.away)
                if self.stray is not None:
                    os.mkdir(self.root)
                    shutil.copy(Path(self.away) / self.stray, Path(self.root) / "stray.mp3")


class DeletingProber:
    """Probe with PyAV; right after probing the file named `trigger`, delete `doomed` (paths
    under `root`, once): files a user removes while a scan runs. Picklable for the pool."""

    name = "deleting"

    def __init__(self, root: str, trigger: str, doomed: tuple[str, ...]) -> None:
        self.root = root
        self.trigger = trigger
        self.doomed = doomed
        self.delegate = PyAVProber()

    def probe(self, path: Path) -> ProbeResult:
        """Probe for real, then delete the doomed files if this was the trigger."""
        try:
            return self.delegate.probe(path)
        finally:
            if path.name == self.trigger:
                for relpath in self.doomed:
                    Path(self.root, relpath).unlink(missing_ok=True)


# -- job kinds whose runner dies ------------------------------------------------------------

DOOMED = "doomed"
LONG_ERROR = "long_error"
SECOND_WIND = "second_wind"


class DoomedParams(BaseModel):
    """Attempt 1 waits for the `gate` file, then raises SystemExit (or returns when not `die`);
    later attempts succeed at once."""

    model_config = ConfigDict(extra="forbid")

    gate: str = Field(min_length=1)
    die: bool = True


class LongErrorParams(BaseModel):
    """Raise an error whose one line is `length` characters (a MediashelfError if `typed`)."""

    model_config = ConfigDict(extra="forbid")

    length: int = Field(default=10_000, ge=1)
    typed: bool = False


class SecondWindParams(BaseModel):
    """Attempt 1 fails at once; later attempts take one long step of `run_s` seconds, then end."""

    model_config = ConfigDict(extra="forbid")

    run_s: float = Field(default=2.5, gt=0)


def run_second_wind(ctx: JobContext) -> JobOutcome:
    """Fail the first attempt (a retry follows); on the next, one long step without progress
    reports (as a slow probe batch is), so only the worker's heartbeat vouches for it."""
    assert isinstance(ctx.params, SecondWindParams)
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
    ctx.sleep(ctx.params.run_s)
    ctx.report({"attempt": ctx.attempt})  # through the fence: a rescued attempt learns it here
    ctx.check()
    return JobOutcome(summary=f"finished on attempt {ctx.attempt}")


def run_doomed(ctx: JobContext) -> JobOutcome:
    """Kill the runner thread with SystemExit on the first attempt, once `gate` exists."""
    assert isinstance(ctx.params, DoomedParams)
    if ctx.attempt > 1:
        return JobOutcome(summary=f"survived on attempt {ctx.attempt}")
    ctx.report({"waiting_for_gate": True})
    while not Path(ctx.params.gate).exists():
        ctx.sleep(0.05)
    if not ctx.params.die:
        return JobOutcome(summary="passed the gate")
    raise SystemExit(3)  # a BaseException: the runner does not catch it


def long_text(length: int) -> str:
    """Return a deterministic one-line text of `length` characters that ends in "END"."""
    body = "".join(f"w{n} " for n in range(length))
    return (body[: max(0, length - 3)] + "END")[-length:]


def run_long_error(ctx: JobContext) -> JobOutcome:
    """Fail with a very long one-line message."""
    assert isinstance(ctx.params, LongErrorParams)
    message = long_text(ctx.params.length)
    if ctx.params.typed:
        raise MediashelfError(message)
    raise RuntimeError(message)


def register(registry: Registry, settings: Settings) -> None:
    """Register the outage kinds (the MEDIASHELF_JOB_MODULES extension contract)."""
    del settings
    registry.register(JobKind(DOOMED, run_doomed, DoomedParams, max_attempts=3))
    registry.register(JobKind(LONG_ERROR, run_long_error, LongErrorParams, max_attempts=1))
    registry.register(JobKind(SECOND_WIND, run_second_wind, SecondWindParams, max_attempts=3))
