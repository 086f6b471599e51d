"""The problems page: failing tracks by class, with retry, release and verify (twin of the API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mediashelf.library.problems.classes import PROBLEM_CLASSES
from mediashelf.library.problems.service import list_problems
from mediashelf.web.deps import runtime_of
from mediashelf.web.params import Limit, Offset, ProblemClassQuery, ScopeQuery
from mediashelf.web.render import TEMPLATES
from mediashelf.web.schemas import ProblemPageOut

router = APIRouter(include_in_schema=False)

HINTS = {
    "missing": "The file is gone from the library; the row keeps its last known facts.",
    "quarantined": "Probing hung or crashed twice in a row: scans skip the file until it "
    "changes. Release it to have the next scan try again, or retry it now.",
    "permission": "The file cannot be read by the service (check its owner and mode).",
    "empty": "The file has no bytes.",
    "corrupt": "The file is damaged or not a media file.",
    "unsupported": "The bundled libav cannot read this format.",
    "no_streams": "The file holds no audio or video stream.",
    "timeout": "Probing took too long once; a second time quarantines the file.",
    "crashed": "The prober process crashed once on this file; a second time quarantines it.",
    "decode_errors": "The file probes fine but did not decode cleanly in the last verification.",
}
assert set(HINTS) == set(PROBLEM_CLASSES)


@router.get("/problems", response_class=HTMLResponse)
def problems_page(
    request: Request,
    problem_class: ProblemClassQuery = None,
    path: ScopeQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HTMLResponse:
    """Render failing tracks by class: counts as filter links, a folder filter, paging."""
    with runtime_of(request).db.unit_of_work() as session:
        page = ProblemPageOut.of(list_problems(session, problem_class, path, limit, offset),
                                 limit, offset)  # fmt: skip
    shown = [(name, page.counts.get(name, 0)) for name in PROBLEM_CLASSES
             if page.counts.get(name) or name == problem_class]  # fmt: skip
    context = {
        "nav": "problems", "page": page, "classes": shown, "hints": HINTS,
        "filters": {"class": problem_class, "path": path, "limit": None if limit == 50 else limit},
        "all_count": sum(page.counts.values()),
        "problem_total": None if path else sum(page.counts.values()),
        "previous": max(offset - limit, 0) if offset else None,
        "next": offset + limit if offset + limit < page.total else None,
    }  # fmt: skip
    return TEMPLATES.TemplateResponse(request, "problems.html", context)
