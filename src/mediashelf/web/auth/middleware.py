"""With a token set, every route but /healthz, /login and static assets needs a credential.

A credential is the bearer token, or a page session cookie (plus the CSRF header on changes).
`MEDIASHELF_PUBLIC_READ=1` opens reads (GET, HEAD) on purpose; changes still need one.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mediashelf.runtime import Runtime
from mediashelf.web.auth.access import CSRF_HEADER, SESSION_COOKIE, Access
from mediashelf.web.auth.credentials import bearer_ok, csrf_matches
from mediashelf.web.auth.sessions import session_valid
from mediashelf.web.errors import Failure, respond, wants_page

OPEN_PATHS = frozenset({"/login", "/logout", "/healthz"})
OPEN_PREFIXES = ("/static/",)
READS = frozenset({"GET", "HEAD", "OPTIONS"})
LOG_IN = "Authentication required: log in, or send the API token (Authorization: Bearer …)."
CSRF = "The page session's CSRF header is missing or wrong; reload the page."


def is_open(path: str) -> bool:
    """Tell whether a path is reachable without credentials."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class RequireCredentials:
    """ASGI middleware: 401 (or the log-in page for a browser) without a valid credential."""

    def __init__(self, app: ASGIApp, runtime: Runtime, access: Access) -> None:
        self.app = app
        self.runtime = runtime
        self.access = access

    def _session_ok(self, secret: str) -> bool:
        token = self.access.token
        assert token is not None
        with self.runtime.db.unit_of_work() as session:
            return session_valid(session, self.runtime.clock, token, secret, self.access.sessions)

    async def _refusal(self, request: Request) -> Failure | None:
        if bearer_ok(request.headers, self.access.token):
            return None
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret or not await run_in_threadpool(self._session_ok, secret):
            return Failure(401, LOG_IN, headers={"www-authenticate": "Bearer"})
        if request.method in READS:
            return None
        if csrf_matches(request.headers.get(CSRF_HEADER, ""), secret):
            return None
        return Failure(403, CSRF)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.access.token is None
            or is_open(scope["path"])
            or (self.access.public_read and scope["method"] in READS)
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        failure = await self._refusal(request)
        if failure is None:
            await self.app(scope, receive, send)
        elif failure.status == 401 and request.method in READS and wants_page(request):
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            await RedirectResponse(f"/login?next={target}", status_code=303)(scope, receive, send)
        else:
            await respond(request, failure)(scope, receive, send)
