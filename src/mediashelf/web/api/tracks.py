"""JSON routes for tracks, per-track rescan and the audit log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from mediashelf.audit.store import AuditFilter
from mediashelf.errors import InvalidInput
from mediashelf.library.rescan import RescanOptions, rescan_track
from mediashelf.library.store import TrackQuery
from mediashelf.library.tracks import get_track, list_audit, list_tracks, track_audit
from mediashelf.runtime import Runtime
from mediashelf.web.deps import client_of, runtime_of
from mediashelf.web.errors import (
    COMMON,
    JSON_BODY,
    describe_validation,
    error_responses,
    require_json_body,
)
from mediashelf.web.params import Limit, NameQuery, Offset, VideoId
from mediashelf.web.schemas import (
    INT32_MAX,
    AuditOut,
    AuditPage,
    RescanRequest,
    TrackListParams,
    TrackOut,
    TrackPage,
    rescan_json,
)

router = APIRouter(prefix="/api", tags=["tracks"], responses=error_responses(*COMMON))

RESCAN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": RescanRequest.model_json_schema()}},
    }
}


@router.get("/tracks", response_model=TrackPage)
def get_tracks(request: Request, params: Annotated[TrackListParams, Query()]) -> TrackPage:
    """List tracks: search, filter, sort and paginate on the server."""
    with runtime_of(request).db.unit_of_work() as session:
        listing = list_tracks(session, TrackQuery(**params.model_dump()))
        return TrackPage.of(listing, params.per_page)


@router.get("/track/{video_id}", response_model=TrackOut, responses=error_responses(404))
def get_one_track(request: Request, video_id: VideoId) -> TrackOut:
    """Return one track with its probe record."""
    with runtime_of(request).db.unit_of_work() as session:
        return TrackOut.model_validate(get_track(session, video_id))


@router.get("/track/{video_id}/audit", response_model=AuditPage, responses=error_responses(404))
def get_track_audit(
    request: Request,
    video_id: VideoId,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    """Return the track's audit history, newest first."""
    with runtime_of(request).db.unit_of_work() as session:
        events, total = track_audit(session, video_id, limit, offset)
        return AuditPage(events=[AuditOut.model_validate(e) for e in events], total=total)


@router.post(
    "/track/{video_id}/rescan_media",
    openapi_extra=RESCAN_BODY,
    responses=error_responses(*JSON_BODY, 404, 504),
)
async def post_rescan(request: Request, video_id: VideoId) -> dict[str, Any]:
    """Probe the track's file now and update its media fields (§4 contract)."""
    raw = await request.body()
    require_json_body(request, raw)
    options = parse_rescan_body(raw)
    return await run_in_threadpool(
        _rescan, runtime_of(request), video_id, options, client_of(request)
    )


@router.post("/track/{video_id:path}/rescan_media", include_in_schema=False)
def post_rescan_malformed(video_id: str) -> None:
    """A slash in the id (sent as %2F) reached no route: a 404 where §4 says 400."""
    raise InvalidInput("malformed video id")


def _rescan(runtime: Runtime, video_id: str, options: RescanOptions, actor: str) -> dict[str, Any]:
    outcome = rescan_track(
        runtime.db, root=runtime.root, runner=runtime.probe_runner(), clock=runtime.clock,
        video_id=video_id, options=options, actor=actor,
    )  # fmt: skip
    return rescan_json(outcome)


def parse_rescan_body(raw: bytes) -> RescanOptions:
    """Parse the optional JSON body; anything malformed is InvalidInput (HTTP 400)."""
    if not raw.strip():
        return RescanOptions()
    try:
        data = json.loads(raw)
        body = RescanRequest.model_validate(data)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = (
            describe_validation(exc.errors()) if isinstance(exc, ValidationError) else "not JSON"
        )
        raise InvalidInput(f"malformed body: {detail}") from exc
    return RescanOptions(body.refresh_duration, body.refresh_size)


@router.get("/audit", response_model=AuditPage, tags=["audit"])
def get_audit(
    request: Request,
    video_id: NameQuery = None,
    action: NameQuery = None,
    job_id: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    """List audit events, newest first."""
    flt = AuditFilter(video_id=video_id, action=action, job_id=job_id, limit=limit, offset=offset)
    with runtime_of(request).db.unit_of_work() as session:
        events, total = list_audit(session, flt)
        return AuditPage(events=[AuditOut.model_validate(e) for e in events], total=total)
