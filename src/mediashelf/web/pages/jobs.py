"""HTML pages for jobs: the table with tiles and the create form, and one job's view."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mediashelf.jobs.service import get_job, job_logs, job_stats, list_jobs
from mediashelf.jobs.store import JobFilter
from mediashelf.web.deps import runtime_of
from mediashelf.web.job_schemas import JobOut
from mediashelf.web.params import JobId
from mediashelf.web.render import TEMPLATES

router = APIRouter(include_in_schema=False)
LOG_TAIL = 200


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    status: Literal["pending", "running", "completed", "failed", "cancelled", ""] = "",
    kind: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """Status tiles, the create form and the job table (twin of GET /api/jobs)."""
    runtime = runtime_of(request)
    flt = JobFilter(status=status or None, kind=kind or None, limit=100)
    with runtime.db.unit_of_work() as session:
        jobs, _ = list_jobs(session, flt)
        stats = job_stats(session, runtime.clock, runtime.settings.lease_s)
        context = {
            "nav": "jobs", "jobs": [JobOut.model_validate(j) for j in jobs], "stats": stats,
            "filters": {"status": status, "kind": kind},
            "kinds": sorted({*stats.by_kind, *runtime.registry.names()}),
        }  # fmt: skip
        return TEMPLATES.TemplateResponse(request, "jobs.html", context)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: JobId) -> HTMLResponse:
    """One job's live view as a page (the modal's shareable twin)."""
    with runtime_of(request).db.unit_of_work() as session:
        job = JobOut.model_validate(get_job(session, job_id))
        logs = job_logs(session, job_id, None, 0, LOG_TAIL, newest=True)
        return TEMPLATES.TemplateResponse(
            request, "job.html", {"nav": "jobs", "job": job, "logs": logs}
        )


@router.get("/jobs/{job_id}/view", response_class=HTMLResponse)
def job_fragment(request: Request, job_id: JobId) -> HTMLResponse:
    """The job view alone, for the modal."""
    with runtime_of(request).db.unit_of_work() as session:
        job = JobOut.model_validate(get_job(session, job_id))
        return TEMPLATES.TemplateResponse(request, "job_view.html", {"job": job, "logs": []})
