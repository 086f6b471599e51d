"""Map errors to HTTP responses, once: `{"status": "error", "error": message}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mediashelf.errors import (
    ConflictingJob,
    DatabaseError,
    DuplicateJob,
    InvalidInput,
    InvalidJobRequest,
    JobConflict,
    LibraryUnavailable,
    MediashelfError,
    NotFound,
    ProbeError,
    ProbeTimeout,
)
from mediashelf.web.render import TEMPLATES

log = logging.getLogger(__name__)


def status_for(exc: MediashelfError) -> int:
    """Return the HTTP status code for a mediashelf error."""
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, InvalidJobRequest):
        return 422
    if isinstance(exc, JobConflict):
        return 409
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, ProbeTimeout):
        return 504
    if isinstance(exc, ProbeError):
        return 422
    if isinstance(exc, LibraryUnavailable | DatabaseError):
        return 503
    return 500


def error_body(exc: MediashelfError) -> dict[str, object]:
    """Return the JSON body for a mediashelf error."""
    body: dict[str, object] = {"status": "error", "error": exc.message}
    if isinstance(exc, ProbeError):
        body["error_class"] = exc.error_class
    if isinstance(exc, DuplicateJob | ConflictingJob):
        body["job_id"] = exc.job_id
    if isinstance(exc, ConflictingJob):
        body["active_params"] = exc.params
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error shape."""

    @app.exception_handler(MediashelfError)
    async def _mediashelf(request: Request, exc: MediashelfError) -> Response:
        status = status_for(exc)
        if wants_page(request):
            return error_page(request, status, exc.message)
        return JSONResponse(error_body(exc), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        message = describe_validation(exc.errors())
        if wants_page(request):
            return error_page(request, 422, message)
        return JSONResponse({"status": "error", "error": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        if wants_page(request):
            return error_page(request, exc.status_code, message)
        return JSONResponse({"status": "error", "error": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unhandled error", exc_info=exc)
        return JSONResponse({"status": "error", "error": "internal error"}, status_code=500)


def wants_page(request: Request) -> bool:
    """Tell whether the failed request was a browser asking for a page (not the API)."""
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/metrics", "/media/", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> Response:
    """Render the HTML error page."""
    titles = {400: "Bad request", 404: "Not found", 409: "Conflict", 422: "Invalid request"}
    context = {"status": status, "title": titles.get(status, "Error"), "message": message}
    return TEMPLATES.TemplateResponse(request, "error.html", context, status_code=status)


def describe_validation(errors: object) -> str:
    """Summarise pydantic validation errors as one line without echoing request bodies."""
    parts: list[str] = []
    for error in errors if isinstance(errors, list | tuple) else []:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in {"body", "query", "path"})
        parts.append(f"{loc or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
