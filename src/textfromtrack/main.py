"""The application factory: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from textfromtrack import __version__, health
from textfromtrack.accounts import router as accounts_router
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.errors import install_error_handlers
from textfromtrack.tokens import router as tokens_router

DESCRIPTION = """\
Audio to timestamped text. `/api/v1/*` takes a **personal access token**
(`Authorization: Bearer tft_pat_…`); `/api/auth/*` takes the web session
(login cookie, or its JWT as a Bearer header). Every error uses one envelope:
`{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    # Resolve the secret now, not lazily inside concurrent requests.
    _ = settings.effective_secret_key
    db = database or Database(settings.effective_database_url)
    owns_db = database is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_db:
            db.dispose()

    app = FastAPI(
        title="TextFromTrack API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(accounts_router.router)
    app.include_router(tokens_router.router)
    app.include_router(accounts_router.v1_router)
    return app
