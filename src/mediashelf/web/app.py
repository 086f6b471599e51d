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
from mediashelf.web.errors import install_error_handlers
from mediashelf.web.pages import jobs as job_pages
from mediashelf.web.pages import library as library_pages

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

    app = FastAPI(title="mediashelf", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.middleware("http")(auth.require_token)
    app.include_router(auth.router)
    app.include_router(tracks.router)
    app.include_router(jobs.router)
    app.include_router(health.router)
    app.include_router(library_pages.router)
    app.include_router(job_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
