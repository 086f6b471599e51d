"""JSON routes of the job engine: create, list, inspect, tail logs, cancel, retry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from mediashelf.db.schema import Worker
from mediashelf.jobs.service import (
    cancel_job,
    children_counts,
    create_job,
    get_job,
    job_logs,
    job_stats,
    list_jobs,
    log_text,
    retry_job,
)
from mediashelf.jobs.store import JobFilter
from mediashelf.runtime import Runtime
from mediashelf.web.deps import client_of, runtime_of
from mediashelf.web.errors import COMMON, JSON_BODY, MUTATION, error_responses
from mediashelf.web.job_schemas import (
    JobCreate,
    JobCreated,
    JobDetail,
    JobList,
    JobOut,
    JobStatsOut,
    LogLineOut,
    LogTail,
    WorkerOut,
)
from mediashelf.web.params import (
    JobId,
    JobStatusQuery,
    Limit,
    LogStreamQuery,
    NameQuery,
    Offset,
)
from mediashelf.web.schemas import INT32_MAX

router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses=error_responses(*COMMON))
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def detail(runtime: Runtime, job_id: int) -> JobDetail:
    """Return one job with its children counts."""
    with runtime.db.unit_of_work() as session:
        job = JobOut.model_validate(get_job(session, job_id))
        children = children_counts(session, job_id)
    return JobDetail(**job.model_dump(exclude={"duration_s"}), children=children)


@router.get("", response_model=JobList)
def get_jobs(
    request: Request,
    status: JobStatusQuery = None,
    kind: NameQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JobList:
    """List jobs, newest first."""
    flt = JobFilter(status=status, kind=kind, limit=limit, offset=offset)
    with runtime_of(request).db.unit_of_work() as session:
        jobs, total = list_jobs(session, flt)
        return JobList(jobs=[JobOut.model_validate(j) for j in jobs], total=total)


@router.post(
    "", status_code=201, response_model=JobCreated, responses=error_responses(*JSON_BODY, 409)
)
def post_job(request: Request, body: JobCreate) -> JobCreated:
    """Enqueue a job; 409 with the active job's id when an identical one is active."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        job = create_job(
            session, runtime.registry, runtime.clock, kind=body.kind, params=body.params,
            priority=body.priority, trigger=client_of(request), actor=client_of(request),
        )  # fmt: skip
        job_id = job.id
    if runtime.worker is not None:
        runtime.worker.wake()
    return JobCreated(**detail(runtime, job_id).model_dump(), job_id=job_id)


@router.get("/stats", response_model=JobStatsOut)
def get_stats(request: Request) -> JobStatsOut:
    """Counts by status and kind, today's outcomes, and live workers with heartbeat age."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        stats = job_stats(session, runtime.clock, runtime.settings.lease_s)
        workers = [_worker_out(w, stats.now) for w in stats.workers]
    return JobStatsOut(
        by_status=stats.by_status, by_kind=stats.by_kind, completed_today=stats.completed_today,
        failed_today=stats.failed_today, workers=workers,
    )  # fmt: skip


def _worker_out(worker: Worker, now: datetime) -> WorkerOut:
    age = round((now - worker.heartbeat_at).total_seconds(), 3)
    return WorkerOut(
        id=worker.id, host=worker.host, pid=worker.pid, concurrency=worker.concurrency,
        version=worker.version, started_at=worker.started_at, heartbeat_age_s=age,
    )  # fmt: skip


@router.get("/{job_id}", response_model=JobDetail, responses=error_responses(404))
def get_one(request: Request, job_id: JobId) -> JobDetail:
    """Return the job with progress, summary, error summary, errors and children counts."""
    return detail(runtime_of(request), job_id)


@router.get("/{job_id}/logs", response_model=LogTail, responses=error_responses(404))
def get_logs(
    request: Request,
    job_id: JobId,
    stream: LogStreamQuery = None,
    after: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    tail: Annotated[
        bool, Query(description="The last `limit` lines after `after`, not the first.")
    ] = False,
) -> LogTail:
    """Return log lines after id `after` (pass back `next_after` to follow)."""
    with runtime_of(request).db.unit_of_work() as session:
        found = job_logs(session, job_id, stream, after, limit, newest=tail)
        lines = [LogLineOut.model_validate(x) for x in found]
    return LogTail(lines=lines, next_after=lines[-1].id if lines else after)


@router.get("/{job_id}/logs/{name}", response_class=StreamingResponse,
            responses={200: TEXT, **error_responses(404)})  # fmt: skip
def download_log(
    request: Request, job_id: JobId, name: Literal["job.log", "progress.log"]
) -> StreamingResponse:
    """Download a whole log stream as text."""
    runtime = runtime_of(request)
    stream = name.removesuffix(".log")
    with runtime.db.unit_of_work() as session:
        get_job(session, job_id)  # 404 before the response starts

    def lines() -> Iterator[str]:
        with runtime.db.unit_of_work() as session:
            yield from log_text(session, job_id, stream)

    headers = {"content-disposition": f'attachment; filename="job-{job_id}-{name}"'}
    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8", headers=headers)


@router.post(
    "/{job_id}/cancel", response_model=JobDetail, responses=error_responses(*MUTATION, 404, 409)
)
def post_cancel(request: Request, job_id: JobId) -> JobDetail:
    """Cancel a pending job, or ask a running one to stop at its next checkpoint."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        cancel_job(session, runtime.clock, job_id, actor=client_of(request))
    runtime.job_cancelled(job_id)
    return detail(runtime, job_id)


@router.post(
    "/{job_id}/retry", response_model=JobDetail, responses=error_responses(*MUTATION, 404, 409)
)
def post_retry(request: Request, job_id: JobId) -> JobDetail:
    """Queue a failed or cancelled job again."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        retry_job(session, runtime.registry, runtime.clock, job_id, actor=client_of(request))
    if runtime.worker is not None:
        runtime.worker.wake()
    return detail(runtime, job_id)
