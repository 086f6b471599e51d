"""The `mediashelf` command: serve, worker, scan, rescan, jobs, db, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mediashelf.cli import db as db_commands
from mediashelf.cli import jobs as job_commands
from mediashelf.cli import problems as problem_commands
from mediashelf.cli.doctor import doctor
from mediashelf.cli.exits import FAILED, INTERRUPTED, OK
from mediashelf.cli.interrupts import HeldInterrupts, terminate_as_interrupt
from mediashelf.cli.startup import imports_done
from mediashelf.cli.usage import JsonUsageErrors
from mediashelf.cli.wiring import (
    TAKES_IDS,
    build_runtime,
    check_port_free,
    clean_exits,
    err,
    is_loopback,
    load_settings,
    opened_runtime,
    out,
    printable,
)
from mediashelf.errors import ConfigError, ConflictingJob, JobBeingCancelled, JobConflict
from mediashelf.library.kinds import LIBRARY_SCAN, LIBRARY_VERIFY

if TYPE_CHECKING:  # the commands import what they run lazily: `mediashelf --help` stays quick
    from mediashelf.cli.display import JobProgress
    from mediashelf.db.schema import Job
    from mediashelf.jobs.service import JobRequest
    from mediashelf.runtime import Runtime


WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
WATCH_HELP = "Follow file-system changes and scan what changed (MEDIASHELF_WATCH)."

app = typer.Typer(
    cls=JsonUsageErrors, no_args_is_help=True, rich_markup_mode=None,
    help="Keep a media library's technical facts accurate.",
)  # fmt: skip
app.add_typer(db_commands.app, name="db")
app.add_typer(job_commands.app, name="jobs")
app.add_typer(problem_commands.app, name="problems")
app.command()(doctor)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    library: Annotated[Path | None, typer.Option(help="Library root folder.")] = None,
    workers: Annotated[int | None, typer.Option(help="Embedded job threads (0: none).")] = None,
    insecure: Annotated[bool, typer.Option(help="Allow a public bind without a token.")] = False,
    scan: Annotated[bool, typer.Option(help="Queue an incremental scan at start-up.")] = True,
    watch: Annotated[bool | None, typer.Option(help=WATCH_HELP, show_default=False)] = None,
) -> None:
    """Run the web app and API with embedded job workers."""
    import uvicorn

    from mediashelf.cli.logs import configure_logging
    from mediashelf.web.app import create_app

    with clean_exits():
        settings = load_settings(host=host, port=port, library=library, watch=watch)
        if not is_loopback(settings.host) and not settings.api_token and not insecure:
            raise ConfigError(
                f"Refusing to bind {settings.host} without MEDIASHELF_API_TOKEN "
                "(pass --insecure to do it anyway)."
            )
        check_port_free(settings.host, settings.port)
        configure_logging(settings.log_format)
        runtime = build_runtime(settings)
        try:  # until the server owns the runtime (its lifespan closes it), a failure does
            runtime.migrate()  # here, not first in the app: an unusable database is one line
            runtime.registry.names()  # job modules load here: a bad one is one line too
            threads = settings.worker_concurrency if workers is None else workers
            web = create_app(runtime, workers=threads, initial_scan=scan and threads > 0)
            if settings.watch:
                runtime.start_watch()
        except BaseException:
            runtime.close()
            raise
        imports_done()
    if settings.host in WILDCARD_BINDS and not settings.allowed_hosts:
        err.print(
            f"note: listening on {settings.host}, but only localhost names are accepted in the "
            "Host header; list the names and addresses you browse to in MEDIASHELF_ALLOWED_HOSTS.",
            highlight=False,
        )
    uvicorn.run(web, host=settings.host, port=settings.port, log_config=None)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once.")] = None,
    watch: Annotated[bool | None, typer.Option(help=WATCH_HELP, show_default=False)] = None,
) -> None:
    """Run job workers only (any number, on any hosts, sharing one database)."""
    import signal
    import threading

    from mediashelf.cli.logs import configure_logging

    with opened_runtime(worker_concurrency=concurrency, watch=watch) as runtime:
        configure_logging(runtime.settings.log_format)
        runtime.start_worker()
        if runtime.settings.library is not None:
            # A worker is there to run scans: its probe processes start now, not inside the
            # first chunk it claims (0.2-0.5 s of forkserver and libav start-up).
            runtime.pool().warm()
        if runtime.settings.watch:  # on one host only: one watcher per library is enough
            runtime.enqueue_startup_scan(actor="worker")
            runtime.start_watch()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()


@app.command()
def scan(
    force: Annotated[bool, typer.Option(help="Re-probe unchanged files too.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
    path: Annotated[str | None, typer.Option(help="Only this sub-folder.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows written per batch.")] = None,
    throttle_ms: Annotated[int | None, typer.Option(help="Pause between batches.")] = None,
    max_probes_per_s: Annotated[
        float | None, typer.Option(help="Probe at most this many files per second.")
    ] = None,
    allow_mass_missing: Annotated[
        bool, typer.Option(help="Mark files missing even past the offline-library brake.")
    ] = False,
    no_wait: Annotated[bool, typer.Option(help="Print the job id and return.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Scan the library: enqueue a library_scan job (or join an identical one) and follow it."""
    params = {"force": force, "dry_run": dry_run, "path": path, "batch_size": batch_size,
              "throttle_ms": throttle_ms, "max_probes_per_s": max_probes_per_s,
              "allow_mass_missing": allow_mass_missing or None}  # fmt: skip
    _run_job(LIBRARY_SCAN, {k: v for k, v in params.items() if v is not None}, no_wait, as_json)


@app.command()
def verify(
    path: Annotated[str | None, typer.Option(help="Only this sub-folder.")] = None,
    lossless_only: Annotated[bool, typer.Option(help="Only lossless audio.")] = False,
    problems_only: Annotated[
        bool, typer.Option(help="Only tracks whose last verification found errors.")
    ] = False,
    not_verified_since_days: Annotated[
        int | None, typer.Option(help="Only tracks not verified for this many days.")
    ] = None,
    max_files_per_s: Annotated[float | None, typer.Option(help="Files per second.")] = None,
    max_read_mb_s: Annotated[float | None, typer.Option(help="Read MB per second.")] = None,
    no_wait: Annotated[bool, typer.Option(help="Print the job id and return.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Decode tracks fully to find broken files: enqueue a library_verify job and follow it."""
    params = {"path": path, "lossless_only": lossless_only, "problems_only": problems_only,
              "not_verified_since_days": not_verified_since_days,
              "max_files_per_s": max_files_per_s, "max_read_mb_s": max_read_mb_s}  # fmt: skip
    _run_job(LIBRARY_VERIFY, {k: v for k, v in params.items() if v is not None}, no_wait, as_json)


_JOINED = {True: "not starting another", False: "following it instead of starting another"}


def _run_job(kind: str, params: dict[str, object], no_wait: bool, as_json: bool) -> None:
    """Enqueue (or join the identical active) job, then follow it; exit 0 when it completed.

    Ctrl-C while following cancels the job and waits for it to stop (the summary, or the JSON
    object, says how it ended), unless the command joined a job that was already active:
    that one is someone else's (a page, the scheduler, another terminal), so Ctrl-C only
    stops following it. Ctrl-C before the job exists queues nothing and says so; a second
    Ctrl-C while a cancelled job winds down stops following it. Either way `--json` prints
    one object.
    """
    from mediashelf.cli.display import JobProgress  # the bar is drawn before the runtime opens

    terminate_as_interrupt()
    json_errors = {"kind": kind} if as_json else None
    ahead = params if kind == LIBRARY_SCAN and not no_wait else None
    request: JobRequest | None = None
    try:
        with (
            JobProgress(err, quiet=as_json or no_wait) as bar,
            opened_runtime(
                json_errors,
                early_pool=not no_wait,
                scan_ahead=ahead,
                indexed_only=kind == LIBRARY_VERIFY,
            ) as runtime,
        ):
            from mediashelf.cli.jobs import job_json  # after the pool started: overlaps it
            from mediashelf.jobs.service import request_job

            held = HeldInterrupts()  # until the job is followed (interrupts.py)
            try:
                try:
                    with runtime.db.unit_of_work() as session:
                        request = request_job(session, runtime.registry, runtime.clock, kind,
                                              params, trigger="cli", actor="cli")  # fmt: skip
                except ConflictingJob as exc:
                    raise _nobody_runs(runtime, exc) from exc
                if request.joined:
                    err.print(f"An identical {kind} is already active (job {request.job_id}); "
                              f"{_JOINED[no_wait]}.", soft_wrap=True)  # fmt: skip
                if no_wait:
                    held.release()
                    out.print_json(json.dumps({"job_id": request.job_id,
                                               "joined": request.joined})) \
                        if as_json else out.print(request.job_id)  # fmt: skip
                    return
                job = _follow_or_cancel(runtime, request, bar, held)
            finally:
                held.restore()
    except KeyboardInterrupt:
        raise _interrupted(kind, request, json_errors) from None
    if as_json:
        out.print_json(json.dumps({**job_json(job), "joined": request.joined}))
    else:
        out.print(job.summary or job.status, highlight=False)
        for name, entry in (job.error_summary or {}).items():
            out.print(f"  {name}: {entry['count']} (e.g. {', '.join(entry['samples'])})")
    raise typer.Exit(OK if job.status == "completed" else FAILED)


def _nobody_runs(runtime: Runtime, conflict: ConflictingJob) -> JobConflict:
    """Return the conflict, saying so when no worker is alive to ever end the other job.

    A job queued from the command line with no service running (`problems retry`) waits
    for a worker; "wait for it to end" alone left every later `scan` refused for good.
    """
    from mediashelf.cli.follow import workers_alive

    if workers_alive(runtime):
        return conflict
    if isinstance(conflict, JobBeingCancelled):  # cancelled already: only a worker ends it
        return JobConflict(f"{conflict.message} No worker is running to finish it: run "
                           "`mediashelf worker` (or `serve`).")  # fmt: skip
    return JobConflict(
        f"{conflict.message} No worker is running to start it: run `mediashelf worker` (or "
        f"`serve`), or cancel it with `mediashelf jobs cancel {conflict.job_id}`."
    )


def _interrupted(
    kind: str, request: JobRequest | None, json_errors: dict[str, Any] | None
) -> typer.Exit:
    """Say what a Ctrl-C left behind (one line, or one JSON object); return exit 130."""
    if request is None:
        message = f"Interrupted before the {kind} job was created: nothing was queued."
    elif request.joined:
        message = (f"Stopped following job {request.job_id}, which was already active when "
                   "this command joined it, so it is not cancelled (`mediashelf jobs cancel "
                   f"{request.job_id}` does that).")  # fmt: skip
    else:
        message = (f"Interrupted while following job {request.job_id}; "
                   f"`mediashelf jobs show {request.job_id}` tells how it ends.")  # fmt: skip
    if json_errors is not None:
        job_id = None if request is None else request.job_id
        body = {"status": "interrupted", **json_errors, "job_id": job_id, "error": message}
        out.print_json(json.dumps(body))
    else:
        err.print(message, soft_wrap=True)
    return typer.Exit(INTERRUPTED)


def _claimed_soon(runtime: Runtime, job_id: int) -> bool:
    """Tell whether a live worker starts the job within its longest idle poll.

    A live worker may not run this kind at all (a service started without a library), so a
    job still pending after that is run here rather than followed forever.
    """
    import time

    from mediashelf.cli.follow import snapshot
    from mediashelf.jobs.states import JobStatus
    from mediashelf.jobs.worker import MAX_IDLE_BACKOFF_S

    wait_s = MAX_IDLE_BACKOFF_S + 2 * runtime.settings.poll_s
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if snapshot(runtime, job_id).status != JobStatus.PENDING:
            return True
        time.sleep(0.2)
    err.print(f"No running worker started job {job_id} within {wait_s:g} s; running it here.")
    return False


def _follow_or_cancel(
    runtime: Runtime, request: JobRequest, bar: JobProgress, held: HeldInterrupts
) -> Job:
    """Follow the job; cancel it on Ctrl-C or SIGTERM (one held since it was requested too).

    A joined job is not this command's to cancel: the interrupt only stops following it.
    """
    from mediashelf.cli.follow import follow_job, workers_alive
    from mediashelf.jobs.service import cancel_job

    job_id = request.job_id
    try:
        held.release()
        if not workers_alive(runtime) or not _claimed_soon(runtime, job_id):
            runtime.start_worker()
        else:  # a worker elsewhere probes the files: what was probed ahead here is not needed
            runtime.pool().drop_ahead()
        return follow_job(runtime, job_id, bar)
    except KeyboardInterrupt:
        if request.joined:
            raise
        err.print(f"Cancelling job {job_id}…")
        try:
            with runtime.db.unit_of_work() as session:
                cancel_job(session, runtime.clock, job_id, actor="cli")
        except JobConflict:  # it ended meanwhile, or a cancel is already on its way
            pass
        runtime.job_cancelled(job_id)
        return follow_job(runtime, job_id, bar)


@app.command(context_settings=TAKES_IDS)
def rescan(
    video_id: str,
    refresh_duration: Annotated[bool, typer.Option(help="Also overwrite the duration.")] = False,
    refresh_size: Annotated[bool, typer.Option(help="Also overwrite the size.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Probe one track's file now and update its media facts."""
    from rich.table import Table
    from rich.text import Text

    from mediashelf.library.rescan import RescanOptions, rescan_track
    from mediashelf.web.schemas import rescan_json

    options = RescanOptions(refresh_duration, refresh_size)
    json_errors = {"video_id": video_id} if as_json else None
    with opened_runtime(json_errors, indexed_only=True, probe_processes=1) as runtime:
        outcome = rescan_track(
            runtime.db, root=runtime.root, runner=runtime.probe_runner(), clock=runtime.clock,
            video_id=video_id, options=options, actor="cli",
        )  # fmt: skip
    changes = outcome.as_json()
    if as_json:
        out.print_json(json.dumps(rescan_json(outcome)))
        return
    if not changes:
        out.print(f"{video_id}: nothing changed")
        return
    table = Table("field", "old", "new", title=f"{video_id}: {len(changes)} changed")
    for name, (old, new) in changes.items():
        shown = ("-" if value is None else printable(str(value)) for value in (old, new))
        table.add_row(name, *(Text(value) for value in shown))
    out.print(table)


@app.command()
def demo(
    path: Path,
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many clips.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the generated names and content.")] = 0,
) -> None:
    """Write a small demo library of generated audio and video clips to PATH."""
    from mediashelf.demo_library import write_demo_library

    imports_done()
    try:
        written = write_demo_library(path, count, seed=seed)
    except OSError as exc:  # a read-only place, a file where a folder goes, a full disk
        where = exc.filename or path
        err.print(f"error: cannot write the demo library: {exc.strerror} ({where})",
                  highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(FAILED) from exc
    out.print(f"wrote {written} clips to {path}")
