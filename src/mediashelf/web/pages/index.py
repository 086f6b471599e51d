"""The plain HTML track list (server-rendered, readable without JavaScript)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from mediashelf.library.store import TrackQuery
from mediashelf.library.tracks import list_tracks
from mediashelf.web.api.schemas import TrackListParams
from mediashelf.web.api.tracks import runtime_of

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


@router.get("/", response_class=HTMLResponse)
def index(request: Request, params: Annotated[TrackListParams, Query()]) -> HTMLResponse:
    """List the library's tracks as an HTML table (the twin of GET /api/tracks)."""
    with runtime_of(request).db.unit_of_work() as session:
        items, total = list_tracks(session, TrackQuery(**params.model_dump()))
        pages = max(1, -(-total // params.per_page))
        return templates.TemplateResponse(
            request,
            "index.html",
            {"tracks": items, "total": total, "params": params, "pages": pages},
        )
