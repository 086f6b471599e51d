"""Input bounds checked before any route runs: body size, JSON depth, NUL bytes, finite numbers.

Each of these once reached the database or the JSON parser and came back as a 500: NUL is not
storable in PostgreSQL text, deep nesting exhausts the parser's recursion, Infinity is not
valid JSON for PostgreSQL. Bodies here are small JSON documents or the log-in form, so the
whole body is read (up to the limit), checked, and replayed to the route.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediashelf.web.errors import Refused, failure_for, respond

MAX_JSON_DEPTH = 32
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL = "\x00"

# DESIGN §4 (the per-track rescan contract) answers a malformed id or body with 400, where
# every other route's out-of-bounds input is a 422: the bounds are the same, the status theirs.
MALFORMED_IS_400 = re.compile(r"/api/track/[^/]*/rescan_media/?")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Tell whether arrays/objects in `body` nest deeper than `limit` (strings skipped)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _bad_text(value: str) -> str | None:
    if NUL in value:
        return "NUL bytes are not allowed"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return None


def check_json(value: object) -> str | None:
    """Return what is wrong in a parsed JSON document (NUL, lone surrogate, Infinity), or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _bad_text(item)
            if problem:
                return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def check_url(scope: Scope) -> None:
    """Refuse NUL bytes in the path or in any query parameter (422)."""
    if NUL in scope["path"]:
        raise Refused(422, "NUL bytes are not allowed in the path")
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if NUL in key or NUL in value:
            raise Refused(422, f"NUL bytes are not allowed in query parameter {key[:40]!r}")


def check_body(body: bytes, content_type: str) -> None:
    """Refuse a JSON body nested too deeply or holding NUL, lone surrogates or Infinity (422)."""
    if not body.strip() or content_type.startswith(FORM_TYPES):
        return  # the log-in form's token is a credential: wrong bytes there are a 401
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise Refused(422, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        document = json.loads(body)
    except ValueError:
        return  # not JSON: the route says so in its own words
    problem = check_json(document)
    if problem:
        raise Refused(422, f"invalid JSON body: {problem}")


class InputBounds:
    """ASGI middleware: enforce the bounds above, 413 for bodies over `max_body` bytes."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_url(scope)
            replay = await self._checked_body(scope, receive)
        except Refused as exc:
            refusal = _as_malformed(exc, scope["path"])
            await respond(Request(scope), failure_for(refusal))(scope, receive, send)
            return
        await self.app(scope, replay or receive, send)

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive | None:
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is None and "transfer-encoding" not in headers:
            return None
        if declared is not None and not declared.isdigit():
            raise Refused(400, "malformed Content-Length header")
        if declared is not None and int(declared) > self.max_body:
            raise Refused(413, f"request body larger than {self.max_body} bytes")
        body = await self._read(receive)
        check_body(body, headers.get("content-type", "").lower())
        return _replaying(body, receive)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise Refused(413, f"request body larger than {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _as_malformed(refusal: Refused, path: str) -> Refused:
    """Restate a 422 on a route whose contract says 400 for a malformed id or body."""
    if refusal.status != 422 or not MALFORMED_IS_400.fullmatch(path):
        return refusal
    part = "id" if "in the path" in refusal.message else "body"
    if "query parameter" in refusal.message:
        part = "request"
    return Refused(400, f"malformed {part}: {refusal.message}", refusal.headers)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
