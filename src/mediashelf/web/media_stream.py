"""The /media stream: the file with byte ranges, its range errors in the API's error shape.

Starlette's FileResponse answers a malformed Range header (400) or one beyond the file (416)
itself, in plain text, while every other error of /media (404, 401, 400 for a bad id) is
`{"status": "error", "error": …}`. A client of the stream reads one shape.
"""

from __future__ import annotations

import json

from fastapi.responses import FileResponse
from starlette.types import Message, Receive, Scope, Send

UNSATISFIABLE = "range not satisfiable: it starts beyond the end of the file (see Content-Range)"


class MediaFileResponse(FileResponse):
    """A file response whose range errors are JSON (the file itself streams as before)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the file; turn the plain-text answer to a bad Range header into JSON."""
        await super().__call__(scope, receive, _json_errors(send))


def _json_errors(send: Send) -> Send:
    """Wrap `send`: an error answer (status >= 400) gets a JSON body of its text."""
    held: Message | None = None

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and message["status"] >= 400:
            held = message  # until its body says what went wrong
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        text = bytes(message.get("body", b"")).decode("utf-8", "replace").strip()
        body = json.dumps({"status": "error", "error": text or UNSATISFIABLE}).encode()
        headers = [(name, value) for name, value in held.get("headers", [])
                   if name.lower() not in (b"content-type", b"content-length")]  # fmt: skip
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({**held, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        held = None

    return wrapped
