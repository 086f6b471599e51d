"""The FastAPI application over a Runtime, with its guards in front of the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mediashelf import __version__
from mediashelf.library.library_state import RootCheck
from mediashelf.runtime import Runtime
from mediashelf.web.api import health, jobs, problems, tracks
from mediashelf.web.auth import routes as auth_routes
from mediashelf.web.auth.access import Access
from mediashelf.web.auth.middleware import RequireCredentials
from mediashelf.web.docs import router as docs_router
from mediashelf.web.errors import ErrorBoundary, install_error_handlers
from mediashelf.web.head import HeadAsGet
from mediashelf.web.headers import SecurityHeaders
from mediashelf.web.hosts import HostAllowList, allowed_hosts
from mediashelf.web.limits import InputBounds
from mediashelf.web.origin import SameOriginChanges
from mediashelf.web.pages import jobs as job_pages
from mediashelf.web.pages import library as library_pages
from mediashelf.web.pages import problems as problem_pages
from mediashelf.web.startup import check_settings
from mediashelf.web.storage import StorageWatch, WatchStorage

STATIC = Path(__file__).with_name("static")


def create_app(runtime: Runtime, workers: int = 0, initial_scan: bool = False) -> FastAPI:
    """Build the app; on start it migrates, starts `workers` embedded job threads, and scans.

    Raises ConfigError for settings the app must not run with (a short token, say).
    """
    check_settings(runtime.settings)

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
    access = Access.from_runtime(runtime)
    app.state.runtime = runtime
    app.state.access = access
    app.state.storage = StorageWatch()
    app.state.root_check = RootCheck()  # /healthz looks at the library root through it
    routers = (
        auth_routes.router,
        docs_router,
        tracks.router,
        jobs.router,
        problems.router,
        health.router,
        library_pages.router,
        job_pages.router,
        problem_pages.router,
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Newer FastAPI nests included routers in app.routes; their own lists name every route.
    install_error_handlers(app, [*app.routes, *(r for router in routers for r in router.routes)])
    # Listed innermost first: a request meets them bottom-up.
    app.add_middleware(HeadAsGet, routes=app.router.routes)
    app.add_middleware(InputBounds, max_body=runtime.settings.max_body_bytes)
    app.add_middleware(RequireCredentials, runtime=runtime, access=access)
    app.add_middleware(SameOriginChanges, token=access.token)
    app.add_middleware(HostAllowList, allowed=allowed_hosts(runtime.settings))
    app.add_middleware(ErrorBoundary)
    app.add_middleware(WatchStorage, watch=app.state.storage)
    app.add_middleware(SecurityHeaders)
    return app
