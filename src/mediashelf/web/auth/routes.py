"""The log-in form, log-in and log-out: sessions for the pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mediashelf.web.auth.access import CSRF_COOKIE, SESSION_COOKIE, access_of
from mediashelf.web.auth.credentials import csrf_for
from mediashelf.web.auth.login import log_in, log_out
from mediashelf.web.deps import runtime_of
from mediashelf.web.render import TEMPLATES

router = APIRouter(include_in_schema=False)
DEFAULT_NEXT = "/jobs"


def safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this server, else the default page."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return DEFAULT_NEXT
    return target


def client_key(request: Request) -> str:
    """Return what failed log-ins are counted by: the client's address."""
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The token form."""
    context = {"failed": False, "next": safe_next(next)}
    return TEMPLATES.TemplateResponse(request, "login.html", context)


@router.post("/login", response_model=None)
def login(
    request: Request, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
) -> Response:
    """Check the token and start a session for the pages."""
    access = access_of(request)
    secret = log_in(runtime_of(request), access, client_key(request), token)
    if secret is None:
        context = {"failed": True, "next": safe_next(next)}
        return TEMPLATES.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    secure = request.url.scheme == "https"
    max_age = int(access.sessions.max_s)
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, httponly=True,
                        samesite="strict", secure=secure)  # fmt: skip
    response.set_cookie(CSRF_COOKIE, csrf_for(secret), max_age=max_age, samesite="strict",
                        secure=secure)  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End the session here and on the server."""
    log_out(runtime_of(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login" if access_of(request).token else "/tracks", 303)
    response.delete_cookie(SESSION_COOKIE, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, samesite="strict")
    return response
