"""Whether the database's disk is full, as far as the web app can tell.

A full disk does not stop reads, so pinging the database says nothing about it. The app
remembers the last write that failed for lack of space (any 507 it answered) until a later
change succeeds; for SQLite it also looks at the free space beside the database file.
"""

from __future__ import annotations

import shutil
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediashelf.db.engine import sqlite_path

LOW_SPACE_BYTES = 8 << 20
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StorageWatch:
    """The app's memory of writes refused for lack of space."""

    def __init__(self) -> None:
        self._full = False
        self._lock = threading.Lock()

    @property
    def full(self) -> bool:
        """Tell whether the last write that ended failed because the disk was full."""
        return self._full

    def record(self, method: str, status: int) -> None:
        """Note a response: 507 means full; a successful change means there is room again."""
        with self._lock:
            if status == 507:
                self._full = True
            elif method in CHANGES and 200 <= status < 300:
                self._full = False


def sqlite_disk_low(url: str) -> bool:
    """Tell whether a SQLite database's folder has almost no free space (False for servers)."""
    path = sqlite_path(url)
    if path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < LOW_SPACE_BYTES
    except OSError:
        return False


class WatchStorage:
    """ASGI middleware: feed every response's status to the StorageWatch."""

    def __init__(self, app: ASGIApp, watch: StorageWatch) -> None:
        self.app = app
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.watch.record(scope["method"], message["status"])
            await send(message)

        await self.app(scope, receive, watching)
