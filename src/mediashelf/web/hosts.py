"""The Host allow-list: a name this server is not known by is refused (DNS rebinding).

A web page that rebinds its own domain to this machine's address reaches the server with
its own domain in `Host`; refusing unknown names keeps that page from reading anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mediashelf.config import Settings
from mediashelf.web.errors import Failure, respond

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


# A name or IPv4 address, a bracketed IPv6 address, or (allow-list entries) a bare IPv6
# address; then an optional port. Anything else (`name:80@evil`, spaces, paths) is no host.
_HOST = re.compile(
    r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+)|(?P<bare>[0-9a-f:.]+))(?::[0-9]{1,5})?"
)


def host_name(value: str) -> str:
    """Return the host part of a Host header or allow-list entry: lower case, no port.

    An empty string when `value` is not a host[:port] at all, which no allow-list holds.
    """
    match = _HOST.fullmatch(value.strip().lower())
    if match is None:
        return ""
    return (match["v6"] or match["name"] or match["bare"]).rstrip(".")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Return the names the server answers to: loopback, the bind address, and the configured."""
    names: Iterable[str] = (*LOOPBACK_NAMES, settings.host, *settings.allowed_hosts)
    return frozenset(name for name in map(host_name, names) if name)


class HostAllowList:
    """ASGI middleware: answer 400 to a request whose Host is not an allowed name."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        if host is None or host_name(host) not in self.allowed:
            message = (
                "This server is not known by that host name; "
                "add it to MEDIASHELF_ALLOWED_HOSTS if it is really yours."
            )
            await respond(Request(scope), Failure(400, message))(scope, receive, send)
            return
        await self.app(scope, receive, send)
