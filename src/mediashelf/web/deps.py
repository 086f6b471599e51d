"""What every route takes from the request: the runtime and who is calling."""

from __future__ import annotations

from fastapi import Request

from mediashelf.runtime import Runtime
from mediashelf.web.storage import StorageWatch


def runtime_of(request: Request) -> Runtime:
    """Return the app's runtime."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def storage_of(request: Request) -> StorageWatch:
    """Return the app's memory of writes refused for lack of space."""
    storage: StorageWatch = request.app.state.storage
    return storage


def client_of(request: Request) -> str:
    """Return "ui" for the pages' own calls, else "api" (recorded as trigger and actor)."""
    return "ui" if request.headers.get("x-mediashelf-client") == "ui" else "api"
