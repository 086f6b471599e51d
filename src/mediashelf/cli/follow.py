"""Watching a job from the terminal: a rich progress bar, then the summary."""

from __future__ import annotations

import time
from functools import partial

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from mediashelf.cli.wiring import err
from mediashelf.db.schema import Job
from mediashelf.jobs.resilience import resilient
from mediashelf.jobs.service import get_job
from mediashelf.jobs.states import FINISHED
from mediashelf.runtime import Runtime

TERMINAL = FINISHED


def snapshot(runtime: Runtime, job_id: int) -> Job:
    """Return a fresh copy of the job, waiting out a database outage."""
    return resilient(runtime.db, partial(get_job, job_id=job_id), _pause, f"following job {job_id}")


def _pause(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def follow_job(runtime: Runtime, job_id: int, poll_s: float = 0.1, quiet: bool = False) -> Job:
    """Show the job's progress until it ends (no bar when `quiet`); return the finished job."""
    columns = (
        TextColumn("[bold]{task.fields[phase]:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} files/s  ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=err, transient=False, disable=quiet) as bar:
        task = bar.add_task("scan", total=None, phase="pending", rate="-", eta="-")
        while True:
            job = snapshot(runtime, job_id)
            p = job.progress or {}
            eta = p.get("eta_s")
            bar.update(
                task, total=p.get("total") or None, completed=p.get("processed", 0),
                phase=p.get("phase", job.status), rate=p.get("rate", "-"),
                eta="-" if eta is None else f"{eta}s",
            )  # fmt: skip
            if job.status in TERMINAL:
                return job
            # Nothing to draw when quiet: read the job less often (a local job's end still
            # wakes us at once), leaving the CPU to the scan.
            runtime.wait_for_job_end(poll_s * 5 if quiet else poll_s)
