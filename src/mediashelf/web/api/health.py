"""Liveness: is the database reachable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mediashelf.errors import DatabaseError
from mediashelf.web.api.tracks import runtime_of

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(request: Request) -> Any:
    """Return 200 when the database answers, 503 otherwise."""
    try:
        runtime_of(request).db.ping()
    except DatabaseError as exc:
        return JSONResponse({"status": "error", "error": exc.message}, status_code=503)
    return {"status": "ok", "database": "ok"}
