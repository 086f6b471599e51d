"""JSON routes of the problems view: list failing tracks, retry them, lift a quarantine, verify."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from mediashelf.jobs.service import JobRequest
from mediashelf.library.problems.service import (
    list_problems,
    release_track,
    request_verify,
    retry_class,
    retry_track,
)
from mediashelf.runtime import Runtime
from mediashelf.web.deps import client_of, runtime_of
from mediashelf.web.errors import COMMON, JSON_BODY, MUTATION, error_responses
from mediashelf.web.params import Limit, Offset, ProblemClassQuery, ScopeQuery, VideoId
from mediashelf.web.schemas import (
    JobRequestOut,
    ProblemPageOut,
    ProblemRetry,
    TrackOut,
    VerifyRequest,
)

router = APIRouter(prefix="/api", tags=["problems"], responses=error_responses(*COMMON))


@router.get("/problems", response_model=ProblemPageOut)
def get_problems(
    request: Request,
    problem_class: ProblemClassQuery = None,
    path: ScopeQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ProblemPageOut:
    """List failing tracks: counts by class (within `path`) and one page, by relpath."""
    with runtime_of(request).db.unit_of_work() as session:
        page = list_problems(session, problem_class, path, limit, offset)
        return ProblemPageOut.of(page, limit, offset)


@router.post(
    "/problems/retry",
    status_code=201,
    response_model=JobRequestOut,
    responses=error_responses(*JSON_BODY, 404, 409),
)
def post_retry(request: Request, body: ProblemRetry) -> JobRequestOut:
    """Enqueue the job that looks at one track, or a whole class, again (a scan or a verify)."""
    runtime, client = runtime_of(request), client_of(request)
    with runtime.db.unit_of_work() as session:
        if body.video_id is not None:
            job = retry_track(session, runtime.registry, runtime.clock, body.video_id,
                              trigger=client, actor=client,
                              root=runtime.settings.library)  # fmt: skip
        else:
            assert body.problem_class is not None  # one of the two, by ProblemRetry
            job = retry_class(session, runtime.registry, runtime.clock, body.problem_class,
                              body.path, trigger=client, actor=client)  # fmt: skip
    return _started(runtime, job)


@router.post(
    "/problems/verify",
    status_code=201,
    response_model=JobRequestOut,
    responses=error_responses(*JSON_BODY, 404, 409),
)
def post_verify(
    request: Request, body: Annotated[VerifyRequest | None, Body()] = None
) -> JobRequestOut:
    """Enqueue a verification (full decode) of the library, a folder, or some tracks."""
    runtime, client = runtime_of(request), client_of(request)
    params = (body or VerifyRequest()).model_dump(exclude_defaults=True)
    with runtime.db.unit_of_work() as session:
        job = request_verify(session, runtime.registry, runtime.clock, params,
                             trigger=client, actor=client)  # fmt: skip
    return _started(runtime, job)


@router.post(
    "/track/{video_id}/release",
    response_model=TrackOut,
    responses=error_responses(*MUTATION, 404, 409),
)
def post_release(request: Request, video_id: VideoId) -> TrackOut:
    """Lift a track's quarantine so the next scan probes it again; 409 when not quarantined."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        track = release_track(session, runtime.clock, video_id, actor=client_of(request))
        return TrackOut.model_validate(track)


def _started(runtime: Runtime, job: JobRequest) -> JobRequestOut:
    if runtime.worker is not None:
        runtime.worker.wake()
    return JobRequestOut.of(job)
