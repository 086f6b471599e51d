"""The Host allow-list: a name this server is not known by is refused (DNS rebinding).

A web page that rebinds its own domain to this machine's address reaches the server with
its own domain in `Host`; refusing unknown names keeps that page from reading anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mediashelf.config import Settings
from mediashelf.web.errors import Failure, respond

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(value: str) -> str:
    """Return the host part of a Host header or allow-list entry: lower case, no port."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


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
