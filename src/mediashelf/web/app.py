"""The FastAPI application over a Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mediashelf import __version__
from mediashelf.runtime import Runtime
from mediashelf.web import auth
from mediashelf.web.api import health, jobs, tracks
from mediashelf.web.docs import router as docs_router
from mediashelf.web.errors import ErrorBoundary, install_error_handlers
from mediashelf.web.head import HeadAsGet
from mediashelf.web.headers import SecurityHeaders
from mediashelf.web.limits import InputBounds
from mediashelf.web.pages import jobs as job_pages
from mediashelf.web.pages import library as library_pages
from mediashelf.web.storage import StorageWatch, WatchStorage

STATIC = Path(__file__).with_name("static")


def create_app(runtime: Runtime, workers: int = 0, initial_scan: bool = False) -> FastAPI:
    """Build the app; on start it migrates, starts `workers` embedded job threads, and scans."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.migrate()
        if workers > 0:
            runtime.start_worker(workers)
        if initial_scan:
            runtime.enqueue_startup_scan()
            if runtime.worker is not None:
                runtime.worker.wake()
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="mediashelf", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None)  # fmt: skip
    app.state.runtime = runtime
    app.state.storage = StorageWatch()
    install_error_handlers(app)
    app.middleware("http")(auth.require_token)
    for router in (auth.router, docs_router, tracks.router, jobs.router, health.router,
                   library_pages.router, job_pages.router):  # fmt: skip
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Listed innermost first: a request meets them bottom-up.
    app.add_middleware(HeadAsGet, routes=app.router.routes)
    app.add_middleware(InputBounds, max_body=runtime.settings.max_body_bytes)
    app.add_middleware(ErrorBoundary)
    app.add_middleware(WatchStorage, watch=app.state.storage)
    app.add_middleware(SecurityHeaders)
    return app
