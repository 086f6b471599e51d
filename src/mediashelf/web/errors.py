"""Map every failure to one response shape, once: `{"status": "error", "error": message, ...}`.

Route errors arrive through FastAPI's exception handlers; failures in the middleware (a
refused Host, a database outage while checking a session) through `ErrorBoundary`. Both
end in `failure_for`, so a status code and its message are decided in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediashelf.db.outage import describe, file_problem, is_storage_full, is_transient
from mediashelf.errors import (
    ConflictingJob,
    DatabaseError,
    DuplicateJob,
    InvalidInput,
    InvalidJobRequest,
    InvalidListRequest,
    JobConflict,
    LibraryUnavailable,
    MediashelfError,
    NotFound,
    ProbeError,
    ProbeTimeout,
    StorageFull,
)
from mediashelf.web.head import allowed_methods
from mediashelf.web.render import TEMPLATES
from mediashelf.web.schemas import ErrorOut

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
DISK_FULL = "The disk holding the database is full; free some space, then try again."
TITLES = {
    400: "Bad request", 401: "Log in required", 403: "Refused", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request too large",
    422: "Invalid request", 429: "Too many attempts", 503: "Unavailable", 507: "Disk full",
}  # fmt: skip


class Refused(Exception):
    """A request the web edge turns away (bad Host, cross-site, no credentials, too large)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class Failure:
    """What to answer for an error: status, message, extra body fields and headers."""

    status: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def status_for(exc: MediashelfError) -> int:
    """Return the HTTP status code for a mediashelf error."""
    if isinstance(exc, InvalidListRequest):
        return 422  # well-formed parameters the list cannot honour, as validation errors are
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
    if isinstance(exc, StorageFull):
        return 507
    if isinstance(exc, LibraryUnavailable | DatabaseError):
        return 503
    return 500


def _mediashelf_failure(exc: MediashelfError) -> Failure:
    status = status_for(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, ProbeError):
        extra["error_class"] = exc.error_class
    if isinstance(exc, DuplicateJob | ConflictingJob):
        extra["job_id"] = exc.job_id
    if isinstance(exc, ConflictingJob):
        extra["active_params"] = exc.params
    headers = {"retry-after": str(RETRY_AFTER_S)} if status == 503 else {}
    return Failure(status, exc.message, extra, headers)


def _database_failure(exc: SQLAlchemyError) -> Failure | None:
    if is_storage_full(exc):
        return Failure(507, DISK_FULL, {"component": "database", "reason": "disk full"})
    if is_transient(exc):
        reason = describe(exc)
        message = f"The database is unavailable right now ({reason}); try again shortly."
        return Failure(503, message, {"component": "database", "reason": reason},
                       {"retry-after": str(RETRY_AFTER_S)})  # fmt: skip
    problem = file_problem(exc)
    if problem is not None:  # read-only or damaged: someone has to act, no Retry-After
        return Failure(503, f"The database cannot be used: {problem}.",
                       {"component": "database", "reason": problem})  # fmt: skip
    return None


def failure_for(exc: BaseException) -> Failure:
    """Return the answer for any exception; unexpected ones are logged and become a bare 500."""
    if isinstance(exc, Refused):
        return Failure(exc.status, exc.message, headers=exc.headers)
    if isinstance(exc, MediashelfError):
        return _mediashelf_failure(exc)
    if isinstance(exc, SQLAlchemyError):
        failure = _database_failure(exc)
        if failure is not None:
            log.warning("Database failure answered with %d: %r", failure.status, exc)
            return failure
    log.error("Unhandled error", exc_info=exc)
    return Failure(500, "internal error")


def is_storage_failure(exc: BaseException) -> bool:
    """Tell whether `exc` means the database's disk is full."""
    return isinstance(exc, StorageFull) or (
        isinstance(exc, SQLAlchemyError) and is_storage_full(exc)
    )


def respond(request: Request, failure: Failure) -> Response:
    """Render a failure as the JSON error shape, or as the HTML error page for a browser."""
    if wants_page(request):
        response = error_page(request, failure.status, failure.message)
    else:
        body = {"status": "error", "error": failure.message, **failure.extra}
        response = JSONResponse(body, status_code=failure.status)
    response.headers.update(failure.headers)
    return response


_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _sent_as(request: Request) -> str | None:
    """Return the body's content type when it is not JSON ("none" when there is none)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind.lower() == "application/json" or kind.lower().endswith("+json"):
        return None
    return kind or "none"


def _send_json(kind: str) -> str:
    return f"Send the body as JSON (Content-Type: application/json), not {kind[:80]}."


def require_json_body(request: Request, raw: bytes) -> None:
    """Refuse (415) a body a route reads as JSON itself that came under another type."""
    kind = _sent_as(request)
    if raw.strip() and kind is not None:
        raise Refused(415, _send_json(kind))


def _json_body_sent_as(request: Request, errors: Sequence[Any]) -> str | None:
    """Return the other content type a JSON route's body came under, when that is why it failed.

    FastAPI reads a JSON body only under a JSON content type; curl's default (a form) made
    the whole body "not a valid dictionary", which named no cause a client could act on.
    """
    kind = _sent_as(request)
    if kind is None:
        return None
    if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT
           for e in errors):  # fmt: skip
        return kind
    return None


def install_error_handlers(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Register the handlers that turn every route error into the error shape.

    `routes` are every route the app serves, its routers' own included: a 405 names the
    methods of all of them at its path.
    """

    async def _any(request: Request, exc: Exception) -> Response:
        return respond(request, failure_for(exc))

    async def _validation(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else ()
        kind = _json_body_sent_as(request, errors)
        if kind is not None:
            return respond(request, Failure(415, _send_json(kind)))
        return respond(request, Failure(422, describe_validation(errors)))

    async def _http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["allow"] = allowed_methods(request.scope, routes)
        return respond(request, Failure(exc.status_code, message, headers=headers))

    for cls in (MediashelfError, SQLAlchemyError, Refused):
        app.add_exception_handler(cls, _any)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)


class ErrorBoundary:
    """ASGI middleware: whatever escapes the inner layers is answered with the error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.error("Error after the response started", exc_info=exc)
                return
            await respond(Request(scope), failure_for(exc))(scope, receive, send)


def wants_page(request: Request) -> bool:
    """Tell whether the failed request was a browser asking for a page (not the API)."""
    path = request.url.path
    if path.startswith(("/api/", "/healthz", "/metrics", "/media/", "/static/", "/openapi")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> Response:
    """Render the HTML error page."""
    context = {"status": status, "title": TITLES.get(status, "Error"), "message": message}
    return TEMPLATES.TemplateResponse(request, "error.html", context, status_code=status)


LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def describe_validation(errors: object) -> str:
    """Summarise pydantic validation errors as one line without echoing request bodies."""
    parts: list[str] = []
    for error in errors if isinstance(errors, list | tuple) else []:
        where = list(error.get("loc", ()))
        if where and where[0] in LOCATIONS:  # where the value came from, not its name
            where = where[1:]
        if error.get("type") == "json_invalid":  # its place is a character offset: "1: …"
            parts.append("malformed body: not JSON")
            continue
        loc = ".".join(str(p) for p in where)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc or 'request'}: {message}")
    return "; ".join(parts) or "invalid request"


ERROR_DESCRIPTIONS = {
    400: "Malformed request, or a Host header not in MEDIASHELF_ALLOWED_HOSTS",
    401: "The API token (or a page session) is required",
    403: "A state change from another site (no same-origin Origin/Referer, no token)",
    404: "Not found",
    409: "Conflict with the job's state or with an active identical job",
    413: "Request body larger than MEDIASHELF_MAX_BODY_BYTES",
    415: "A JSON body sent without Content-Type: application/json",
    422: "Invalid parameter or body (out of range, NUL byte, nested too deeply)",
    429: "Too many failed log-ins from this client; see Retry-After",
    503: "The database is unreachable; see Retry-After",
    504: "Probing the file timed out",
    507: "The disk holding the database is full",
}
COMMON = (400, 401, 422, 503, 507)
MUTATION = (*COMMON, 403, 413)
JSON_BODY = (*MUTATION, 415)  # a mutation that reads a JSON body


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI `responses=` entries documenting `codes` with the error model."""
    return {
        code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]}
        for code in sorted(set(codes))
    }
