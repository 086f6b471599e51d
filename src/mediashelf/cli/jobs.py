"""`mediashelf jobs`: list, show, logs (with --follow), cancel, retry."""

from __future__ import annotations

import json
import time
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mediashelf.cli.wiring import JsonFlag, err, opened_runtime, out, printable
from mediashelf.jobs.states import JobStatus

if TYPE_CHECKING:  # imported when a command runs: `mediashelf --help` stays quick
    from mediashelf.db.schema import Job

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Background jobs.")
# the API's bounds: an id beyond the database's integers is a usage error, not a traceback
JobId = Annotated[int, typer.Argument(min=1, max=2**31 - 1, help="The job id.")]


# The fields of the API's JobOut, in its order. Written out here because building that
# pydantic model costs `mediashelf scan --json` 0.1 s after its job has ended (measured);
# a test holds the two forms equal.
JOB_FIELDS = (
    "id", "kind", "status", "priority", "params", "unique_key", "parent_id", "created_at",
    "run_at", "started_at", "finished_at", "heartbeat_at", "attempt", "max_attempts",
    "worker_id", "cancel_requested_at", "trigger", "progress", "summary", "result", "error",
    "error_summary", "errors", "logs_dropped",
)  # fmt: skip


def job_json(job: Job) -> dict[str, Any]:
    """Return the job in its one JSON form (the API's), ready for json.dumps."""
    shown: dict[str, Any] = {name: _json_value(getattr(job, name)) for name in JOB_FIELDS}
    end = job.finished_at or job.heartbeat_at
    started = job.started_at
    duration = None if started is None or end is None else (end - started).total_seconds()
    shown["duration_s"] = None if duration is None else round(duration, 3)
    shown["error_summary"] = job.error_summary or {}  # as JobOut shows it
    return shown


def _json_value(value: object) -> object:
    """Return `value` as the API writes it: times in ISO 8601, UTC as `Z`."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value


class LogStream(StrEnum):
    """The streams of a job's log."""

    JOB = "job"
    PROGRESS = "progress"


@app.command("list")
def list_command(
    status: Annotated[JobStatus | None, typer.Option(help="Only this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    from rich.table import Table
    from rich.text import Text

    from mediashelf.jobs.service import list_jobs
    from mediashelf.jobs.store import JobFilter

    with (
        opened_runtime({} if as_json else None, indexed_only=True) as runtime,
        runtime.db.unit_of_work() as session,
    ):
        jobs, total = list_jobs(session, JobFilter(status=status, kind=kind, limit=limit))
        rows = [job_json(j) for j in jobs]
    if as_json:
        out.print_json(json.dumps({"jobs": rows, "total": total}))
        return
    table = Table("id", "kind", "status", "progress", "summary", title=f"{total} jobs")
    for row in rows:
        p = row["progress"] or {}
        done = f"{p.get('processed', 0)}/{p.get('total', '?')}" if p else "-"
        summary = printable(row["summary"] or "")
        table.add_row(str(row["id"]), row["kind"], row["status"], done, Text(summary))
    out.print(table)


@app.command("show")
def show(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Show one job with its progress, summary and errors."""
    from rich.markup import escape

    from mediashelf.jobs.service import get_job

    json_errors = {"job_id": job_id} if as_json else None  # --json: one object, error or not
    with (
        opened_runtime(json_errors, indexed_only=True) as runtime,
        runtime.db.unit_of_work() as session,
    ):
        data = job_json(get_job(session, job_id))
    if as_json:
        out.print_json(json.dumps(data))
        return
    for key, value in data.items():
        if value not in (None, {}, []):
            out.print(f"[bold]{key}[/bold]: {escape(str(value))}", markup=True, highlight=False)


@app.command("logs")
def logs(
    job_id: JobId,
    stream: Annotated[
        LogStream | None, typer.Option(help="Only this stream (default: both).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON: one object (with --follow, one per line)."),
    ] = False,
) -> None:
    """Print a job's log; with --follow, until the job ends."""
    from mediashelf.cli.follow import TERMINAL, snapshot
    from mediashelf.jobs.service import job_logs

    json_errors = {"job_id": job_id} if as_json else None
    gathered: list[dict[str, Any]] = []
    with opened_runtime(json_errors, indexed_only=True) as runtime:
        after = 0
        while True:
            with runtime.db.unit_of_work() as session:
                lines = job_logs(session, job_id, stream, after, 500)
                for line in lines:
                    if as_json:
                        shown = {"id": line.id, "ts": _json_value(line.ts), "stream": line.stream,
                                 "level": line.level, "message": line.message}  # fmt: skip
                        if follow:  # JSON Lines: each line as it comes
                            out.print(json.dumps(shown), highlight=False, soft_wrap=True)
                        else:
                            gathered.append(shown)
                    else:
                        text = f"{line.ts:%H:%M:%S} {line.stream:8} {line.message}"
                        out.print(text, highlight=False, markup=False)
            after = lines[-1].id if lines else after
            if not lines and (not follow or snapshot(runtime, job_id).status in TERMINAL):
                break
            if not lines:
                time.sleep(1.0)
    if as_json and not follow:  # the API's shape: GET /api/jobs/{id}/logs
        out.print_json(json.dumps({"lines": gathered, "next_after": after}))


@app.command("cancel")
def cancel(job_id: JobId) -> None:
    """Cancel a pending job, or ask a running one to stop.

    Only a worker stops a running job (or, its own worker dead, rescues it as cancelled):
    with none alive, "cancel requested" alone left the user watching a job that stayed
    running, so the command says what the cancel waits for.
    """
    from mediashelf.cli.follow import workers_alive
    from mediashelf.jobs.service import cancel_job
    from mediashelf.jobs.states import ACTIVE

    with opened_runtime(indexed_only=True) as runtime:
        with runtime.db.unit_of_work() as session:
            job = cancel_job(session, runtime.clock, job_id, actor="cli")
            requested = job.status in ACTIVE
        idle = requested and not workers_alive(runtime)
    out.print(f"job {job_id}: {'cancel requested' if requested else job.status}")
    if idle:
        err.print("No worker is running to stop it: it ends, cancelled, once one starts "
                  "(`mediashelf worker` or `serve`).")  # fmt: skip


@app.command("retry")
def retry(job_id: JobId) -> None:
    """Queue a failed or cancelled job again."""
    from mediashelf.jobs.service import retry_job

    with opened_runtime(indexed_only=True) as runtime, runtime.db.unit_of_work() as session:
        status = retry_job(session, runtime.registry, runtime.clock, job_id, actor="cli").status
    out.print(f"job {job_id}: {status}")
