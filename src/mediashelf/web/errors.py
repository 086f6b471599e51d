"""Map errors to HTTP responses, once: `{"status": "error", "error": message}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mediashelf.errors import (
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
    if isinstance(exc, DuplicateJob):
        body["job_id"] = exc.job_id
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error shape."""

    @app.exception_handler(MediashelfError)
    async def _mediashelf(_request: Request, exc: MediashelfError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"status": "error", "error": describe_validation(exc.errors())}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return JSONResponse({"status": "error", "error": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unhandled error", exc_info=exc)
        return JSONResponse({"status": "error", "error": "internal error"}, status_code=500)


def describe_validation(errors: object) -> str:
    """Summarise pydantic validation errors as one line without echoing request bodies."""
    parts: list[str] = []
    for error in errors if isinstance(errors, list | tuple) else []:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in {"body", "query", "path"})
        parts.append(f"{loc or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"
