"""Liveness and metrics: is the database reachable, are workers alive, what is queued."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from mediashelf.jobs.service import job_stats
from mediashelf.library.tracks import track_status_counts
from mediashelf.web.deps import runtime_of, storage_of
from mediashelf.web.errors import COMMON, error_responses
from mediashelf.web.healthcheck import check_health
from mediashelf.web.schemas import HealthOut

router = APIRouter(tags=["health"])
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


UNHEALTHY = {**error_responses(503)[503], "description": "The database is unreachable or full"}


@router.get("/healthz", response_model=HealthOut,
            responses={**error_responses(400), 503: UNHEALTHY})  # fmt: skip
def healthz(request: Request) -> JSONResponse:
    """200 when the database answers and has room; 503 naming the failing component otherwise."""
    health = check_health(runtime_of(request), storage_of(request), request.app.state.root_check)
    return JSONResponse(
        health.body, status_code=200 if health.healthy else 503, headers=health.headers
    )


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: TEXT, **error_responses(*COMMON)})  # fmt: skip
def metrics(request: Request) -> str:
    """Prometheus text exposition of jobs, workers and tracks."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        stats = job_stats(session, runtime.clock, runtime.settings.lease_s)
        tracks = track_status_counts(session)
    lines = [
        "# HELP mediashelf_jobs Jobs by kind and status.",
        "# TYPE mediashelf_jobs gauge",
    ]
    for kind, counts in sorted(stats.by_kind.items()):
        lines += [
            f'mediashelf_jobs{{kind="{kind}",status="{status}"}} {count}'
            for status, count in sorted(counts.items())
        ]
    lines += [
        "# HELP mediashelf_workers_alive Workers that heartbeated within the lease.",
        "# TYPE mediashelf_workers_alive gauge",
        f"mediashelf_workers_alive {len(stats.workers)}",
        "# HELP mediashelf_tracks Tracks by probe status.",
        "# TYPE mediashelf_tracks gauge",
    ]
    lines += [f'mediashelf_tracks{{probe_status="{s}"}} {n}' for s, n in sorted(tracks.items())]
    return "\n".join(lines) + "\n"
