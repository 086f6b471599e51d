"""`mediashelf jobs`: list, show, logs (with --follow), cancel, retry."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from mediashelf.cli.follow import TERMINAL, snapshot
from mediashelf.cli.wiring import fail, load_settings, out
from mediashelf.db.schema import Job
from mediashelf.errors import MediashelfError
from mediashelf.jobs.service import cancel_job, get_job, job_logs, list_jobs, retry_job
from mediashelf.jobs.store import JobFilter
from mediashelf.library.runtime import Runtime

app = typer.Typer(no_args_is_help=True, help="Background jobs.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _runtime() -> Runtime:
    runtime = Runtime.from_settings(load_settings())
    runtime.migrate()
    return runtime


def job_json(job: Job) -> dict[str, Any]:
    """Return the job as a JSON-ready dict."""
    keys = (
        "id", "kind", "status", "priority", "params", "trigger", "attempt", "max_attempts",
        "worker_id", "progress", "summary", "result", "error", "error_summary", "errors",
    )  # fmt: skip
    data: dict[str, Any] = {key: getattr(job, key) for key in keys}
    for key in ("created_at", "started_at", "finished_at", "cancel_requested_at"):
        value = getattr(job, key)
        data[key] = value.isoformat() if value else None
    return data


@app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    try:
        runtime = _runtime()
        with runtime.db.unit_of_work() as session:
            jobs, total = list_jobs(session, JobFilter(status=status, kind=kind, limit=limit))
            rows = [job_json(j) for j in jobs]
        runtime.close()
    except MediashelfError as exc:
        raise fail(exc) from exc
    if as_json:
        out.print_json(json.dumps({"jobs": rows, "total": total}))
        return
    table = Table("id", "kind", "status", "progress", "summary", title=f"{total} jobs")
    for row in rows:
        p = row["progress"] or {}
        done = f"{p.get('processed', 0)}/{p.get('total', '?')}" if p else "-"
        table.add_row(str(row["id"]), row["kind"], row["status"], done, row["summary"] or "")
    out.print(table)


@app.command("show")
def show(job_id: int, as_json: JsonFlag = False) -> None:
    """Show one job with its progress, summary and errors."""
    try:
        runtime = _runtime()
        with runtime.db.unit_of_work() as session:
            data = job_json(get_job(session, job_id))
        runtime.close()
    except MediashelfError as exc:
        raise fail(exc) from exc
    if as_json:
        out.print_json(json.dumps(data))
        return
    for key, value in data.items():
        if value not in (None, {}, []):
            out.print(f"[bold]{key}[/bold]: {value}", highlight=False)


@app.command("logs")
def logs(
    job_id: int,
    stream: Annotated[str | None, typer.Option(help="job or progress (default: both).")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
) -> None:
    """Print a job's log; with --follow, until the job ends."""
    try:
        runtime = _runtime()
        after = 0
        while True:
            with runtime.db.unit_of_work() as session:
                lines = job_logs(session, job_id, stream, after, 500)
                for line in lines:
                    out.print(f"{line.ts:%H:%M:%S} {line.stream:8} {line.message}", highlight=False,
                              markup=False)  # fmt: skip
            after = lines[-1].id if lines else after
            if not follow or (not lines and snapshot(runtime, job_id).status in TERMINAL):
                break
            if not lines:
                time.sleep(1.0)
        runtime.close()
    except MediashelfError as exc:
        raise fail(exc) from exc


@app.command("cancel")
def cancel(job_id: int) -> None:
    """Cancel a pending job, or ask a running one to stop."""
    try:
        runtime = _runtime()
        with runtime.db.unit_of_work() as session:
            job = cancel_job(session, runtime.clock, job_id, actor="cli")
            status = "cancel requested" if job.status == "running" else job.status
        runtime.close()
    except MediashelfError as exc:
        raise fail(exc) from exc
    out.print(f"job {job_id}: {status}")


@app.command("retry")
def retry(job_id: int) -> None:
    """Queue a failed or cancelled job again."""
    try:
        runtime = _runtime()
        with runtime.db.unit_of_work() as session:
            job = retry_job(session, runtime.registry, runtime.clock, job_id, actor="cli")
            status = job.status
        runtime.close()
    except MediashelfError as exc:
        raise fail(exc) from exc
    out.print(f"job {job_id}: {status}")
