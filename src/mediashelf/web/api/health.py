"""Liveness and metrics: is the database reachable, are workers alive, what is queued."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from mediashelf.errors import DatabaseError
from mediashelf.jobs.service import job_stats
from mediashelf.library.tracks import track_status_counts
from mediashelf.web.deps import runtime_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request) -> Any:
    """Return 200 with live worker count when the database answers, 503 otherwise."""
    runtime = runtime_of(request)
    watch = runtime.watch_state().as_json()  # events | polling | off, and why
    try:
        runtime.db.ping()
        with runtime.db.unit_of_work() as session:
            workers = len(job_stats(session, runtime.clock, runtime.settings.lease_s).workers)
    except DatabaseError as exc:
        body = {"status": "error", "error": exc.message, "watch": watch}
        return JSONResponse(body, status_code=503)
    return {"status": "ok", "database": "ok", "workers": workers, "watch": watch}


@router.get("/metrics", response_class=PlainTextResponse)
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
