"""API token protection (§11): mutations need the bearer token, or the pages' session + CSRF.

Without MEDIASHELF_API_TOKEN nothing is enforced (the service then only binds to loopback).
Sessions are stateless: the cookie holds a nonce and its HMAC under the token, so changing
the token logs everyone out. The CSRF value is a second HMAC of the same nonce that the
pages' scripts read from a non-HttpOnly cookie and echo in a header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mediashelf.web.deps import runtime_of
from mediashelf.web.render import TEMPLATES

SESSION_COOKIE = "mediashelf_session"
CSRF_COOKIE = "mediashelf_csrf"
CSRF_HEADER = "x-csrf-token"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/login", "/logout"})

router = APIRouter(include_in_schema=False)


def _sign(token: str, purpose: str, nonce: str) -> str:
    return hmac.new(token.encode(), f"{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()


def _session_nonce(request: Request, token: str) -> str | None:
    """Return the nonce of a valid session cookie, else None."""
    nonce, _, mac = request.cookies.get(SESSION_COOKIE, "").partition(".")
    if nonce and hmac.compare_digest(mac, _sign(token, "session", nonce)):
        return nonce
    return None


def authorized(request: Request, token: str) -> bool:
    """Tell whether a mutating request carries the bearer token or a session with its CSRF."""
    bearer = request.headers.get("authorization", "")
    if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:], token):
        return True
    nonce = _session_nonce(request, token)
    sent = request.headers.get(CSRF_HEADER, "")
    return nonce is not None and hmac.compare_digest(sent, _sign(token, "csrf", nonce))


async def require_token(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: refuse unauthorised mutations with 401 when a token is configured."""
    token = runtime_of(request).settings.api_token
    if (
        token
        and request.method in MUTATING
        and request.url.path not in OPEN_PATHS
        and not authorized(request, token)
    ):
        return JSONResponse(
            {"status": "error", "error": "authentication required: log in or send the API token"},
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    return await call_next(request)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The token form."""
    return TEMPLATES.TemplateResponse(request, "login.html", {"failed": False})


@router.post("/login", response_model=None)
def login(request: Request, token: Annotated[str, Form()]) -> Response:
    """Check the token and start a session for the pages."""
    expected = runtime_of(request).settings.api_token
    if not expected or not hmac.compare_digest(token, expected):
        return TEMPLATES.TemplateResponse(request, "login.html", {"failed": True}, status_code=401)
    nonce = secrets.token_urlsafe(16)
    response = RedirectResponse("/jobs", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, f"{nonce}.{_sign(expected, 'session', nonce)}",
                        httponly=True, samesite="strict", secure=secure)  # fmt: skip
    response.set_cookie(CSRF_COOKIE, _sign(expected, "csrf", nonce), samesite="strict",
                        secure=secure)  # fmt: skip
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    """End the session."""
    response = RedirectResponse("/tracks", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response
