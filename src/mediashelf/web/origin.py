"""Same-origin for every state change: a page on another site must not drive the server.

A browser names the page that made a request in `Origin` (and `Referer`); a cross-site POST
always carries one of them. A state change is accepted when that page is this service, or
when the request carries the API token. A request with neither header nor token is refused
too: that is what a plain `curl -X POST` is, and telling it apart from a browser with the
headers stripped is not possible; such clients send `Origin` or the token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mediashelf.web.auth.credentials import bearer_ok
from mediashelf.web.errors import Failure, respond
from mediashelf.web.hosts import host_name

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_SITE_FETCHES = frozenset({"cross-site", "same-site"})  # same-site: a sibling subdomain
DEFAULT_PORTS = {"http": 80, "https": 443}
CROSS_SITE = "Cross-site request refused: this change did not come from mediashelf's own pages."
NO_ORIGIN = (
    "Request refused: a change needs an Origin (or Referer) header naming this server, "
    "or the API token (Authorization: Bearer …)."
)


def _port_of(host: str) -> int | None:
    if host.startswith("["):
        rest = host[host.find("]") + 1 :] if "]" in host else ""
    else:
        rest = host[host.find(":") :] if host.count(":") == 1 else ""
    digits = rest.removeprefix(":")
    return int(digits) if digits.isdigit() and len(digits) <= 5 else None


def same_origin(url: str, host: str) -> bool:
    """Tell whether `url` (an Origin or Referer) names the server the Host header names."""
    try:
        parts = urlsplit(url.strip())
        url_port = parts.port
    except ValueError:
        return False
    default = DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.hostname or parts.username is not None:
        return False  # browsers never put user info in Origin or Referer
    host_port = _port_of(host.strip())
    return parts.hostname.lower().rstrip(".") == host_name(host) and (url_port or default) == (
        host_port or default
    )


def check_origin(headers: Headers) -> str | None:
    """Return why a state change is refused, or None when it came from this service.

    A browser's own word counts first: `Sec-Fetch-Site` (which no page can set) saying the
    request came from another site refuses it, whatever Origin and Referer say.
    """
    if headers.get("sec-fetch-site", "").strip().lower() in CROSS_SITE_FETCHES:
        return CROSS_SITE
    host = headers.get("host", "")
    page = headers.get("origin") or headers.get("referer")
    if page is None:
        return NO_ORIGIN
    return None if same_origin(page, host) else CROSS_SITE


class SameOriginChanges:
    """ASGI middleware: answer 403 to a state change from another site."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            refusal = None if bearer_ok(headers, self.token) else check_origin(headers)
            if refusal is not None:
                await respond(Request(scope), Failure(403, refusal))(scope, receive, send)
                return
        await self.app(scope, receive, send)
