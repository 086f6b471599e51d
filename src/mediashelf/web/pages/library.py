"""HTML pages for tracks: the list, one track, and its media stream (range requests)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mediashelf.library.store import FILTERABLE, TrackQuery
from mediashelf.library.tracks import (
    get_track,
    list_tracks,
    media_file,
    track_audit,
    track_facets,
    track_status_counts,
)
from mediashelf.web.deps import runtime_of
from mediashelf.web.media_stream import MediaFileResponse
from mediashelf.web.media_types import media_type
from mediashelf.web.render import TEMPLATES
from mediashelf.web.schemas import TrackListParams

router = APIRouter(include_in_schema=False)

COLUMNS = (
    ("title", "Title", False), ("duration", "Duration", True), ("size_bytes", "Size", True),
    ("bitrate", "Bitrate", True), ("resolution", "Resolution", False),
    ("video_codec", "Video codec", False), ("audio_codec", "Audio codec", False),
    ("video_fps", "FPS", True), ("audio_channels", "Channels", True),
    ("audio_sample_rate", "Sample rate", True),
    ("probe_status", "Status", False),
)  # fmt: skip


@router.get("/")
def home() -> RedirectResponse:
    """Send visitors to the track list."""
    return RedirectResponse("/tracks")


@router.get("/tracks", response_class=HTMLResponse)
def tracks_page(request: Request, params: Annotated[TrackListParams, Query()]) -> HTMLResponse:
    """The track table (twin of GET /api/tracks): sort, filters and paging in the URL."""
    with runtime_of(request).db.unit_of_work() as session:
        listing = list_tracks(session, TrackQuery(**params.model_dump()))
        facets = track_facets(session)
        status_counts = track_status_counts(session)
        url_params = params.model_dump(exclude_none=True, exclude={"cursor", "page"})
        filtered = bool(params.q) or any(getattr(params, n) for n in (*FILTERABLE, "missing"))
        return TEMPLATES.TemplateResponse(
            request,
            "tracks.html",
            {
                "nav": "tracks", "tracks": listing.items, "listing": listing, "params": params,
                "total": listing.total, "pages": max(1, -(-listing.total // params.per_page)),
                "facets": facets, "status_counts": status_counts, "url_params": url_params,
                "filtered": filtered, "columns": COLUMNS,
            },
        )  # fmt: skip


@router.get("/track/{video_id}", response_class=HTMLResponse)
def track_page(request: Request, video_id: str) -> HTMLResponse:
    """One track with every property, its probe record, history and player."""
    with runtime_of(request).db.unit_of_work() as session:
        track = get_track(session, video_id)
        audit, _ = track_audit(session, video_id, limit=100)
        return TEMPLATES.TemplateResponse(
            request, "track.html", {"nav": "tracks", "track": track, "audit": audit}
        )


@router.api_route("/media/{video_id}", methods=["GET", "HEAD"])
def media(request: Request, video_id: str) -> MediaFileResponse:
    """Stream the track's file: byte ranges (206) and HEAD without reading the file."""
    runtime = runtime_of(request)
    with runtime.db.unit_of_work() as session:
        path, filetype = media_file(session, runtime.root, video_id)
    return MediaFileResponse(path, media_type=media_type(filetype))
