"""The FastAPI application, built from an AppContext."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mediashelf import __version__
from mediashelf.web.api import health, tracks
from mediashelf.web.context import AppContext
from mediashelf.web.errors import install_error_handlers
from mediashelf.web.pages import index


def create_app(ctx: AppContext, initial_sync: bool = False) -> FastAPI:
    """Build the app; the schema is migrated on start and the context closed on stop."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.start(initial_sync=initial_sync)
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(title="mediashelf", version=__version__, lifespan=lifespan)
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(tracks.router)
    app.include_router(health.router)
    app.include_router(index.router)
    return app
