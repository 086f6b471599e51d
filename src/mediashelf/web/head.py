"""HEAD on every GET route: answered as the GET would be, without the body.

Routes that serve HEAD themselves (static files, media: no file is read for HEAD) are left
alone; the rest are GET-only in FastAPI, so their HEAD runs the GET and drops the body.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def allowed_methods(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """Return the `Allow` value for a 405: every route at this path, HEAD wherever GET is.

    Starlette names only the first route matching the path, and FastAPI's GET routes leave
    out the HEAD served here: `PUT /api/jobs` was told "Allow: GET" though POST and HEAD work.
    """
    methods: set[str] = set()
    # Raised inside a mount, the scope's root path is the mount's: match from the app's own.
    outer = {**scope, "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
    for route in routes:
        if route.matches(outer)[0] != Match.NONE:
            methods |= getattr(route, "methods", None) or _mounted_methods(route)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _mounted_methods(route: BaseRoute) -> set[str]:
    """A mount of static files serves GET and HEAD (it states no methods: `Allow` was empty)."""
    if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
        return {"GET", "HEAD"}
    return set()


class HeadAsGet:
    """ASGI middleware: run HEAD as GET for routes without a HEAD of their own."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    def _serves_head(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] == Match.FULL for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._serves_head(scope):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
            elif not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, headers_only)
