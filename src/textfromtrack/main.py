"""The application factory: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from textfromtrack import __version__, docs, health, openapi
from textfromtrack.accounts import router as accounts_router
from textfromtrack.bodylimit import MULTIPART_OVERHEAD, BodyLimitMiddleware
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.deps import AuthCache
from textfromtrack.errors import install_error_handlers
from textfromtrack.intake import UploadSlots
from textfromtrack.jobs import edit_router as jobs_edits
from textfromtrack.jobs import events as jobs_events
from textfromtrack.jobs import router as jobs_router
from textfromtrack.jobs.upkeep import Maintenance
from textfromtrack.logs import RequestContextMiddleware
from textfromtrack.media.storage import MAX_UPLOAD_BYTES
from textfromtrack.metrics import http as metrics_http
from textfromtrack.openai_compat import router as openai_router
from textfromtrack.openai_compat.errors import OpenAIErrorsMiddleware
from textfromtrack.queue import select as queue_select
from textfromtrack.queue.base import Dispatcher
from textfromtrack.tokens import router as tokens_router
from textfromtrack.web import api as web_api
from textfromtrack.web import errors as web_errors
from textfromtrack.web import router as web_pages
from textfromtrack.web.security import SecurityHeadersMiddleware

UPLOAD_PATHS = frozenset(
    {
        "/api/v1/transcriptions",
        "/api/web/jobs",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
    }
)
# JSON bodies are tiny; anything bigger than this outside uploads is a mistake or abuse.
OTHER_BODY_LIMIT = 1024 * 1024

DESCRIPTION = """\
Audio to timestamped text. `/api/v1/*` takes a **personal access token**
(`Authorization: Bearer tft_pat_…`); `/api/auth/*` takes the web session
(login cookie, or its JWT as a Bearer header). Every error uses one envelope:
`{"error": {"code", "message", "details"}}`.
"""


def _body_limit(scope: Scope) -> tuple[int, int]:
    path = str(scope.get("path", ""))
    if scope.get("method") == "POST" and path.rstrip("/") in UPLOAD_PATHS:
        return MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD, MAX_UPLOAD_BYTES
    return OTHER_BODY_LIMIT, OTHER_BODY_LIMIT


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    dispatcher: Dispatcher | None = None,
    *,
    run_maintenance: bool = True,
) -> FastAPI:
    """The whole service. Tests pass their own database (and may pass a dispatcher)."""
    settings = settings or Settings()
    # Resolve the secret now, not lazily inside concurrent requests.
    _ = settings.effective_secret_key
    db = database or Database.from_settings(settings)
    owns_db = database is None

    dispatcher = dispatcher or queue_select.make_dispatcher(db, settings)
    maintenance = (
        Maintenance(
            db,
            settings,
            dispatcher.enqueue,
            reconcile=queue_select.needs_reconciler(settings),
        )
        if run_maintenance
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher.start()
        if maintenance is not None:
            maintenance.start()
        try:
            yield
        finally:
            if maintenance is not None:
                maintenance.stop()
            dispatcher.stop()
            if owns_db:
                db.dispose()

    app = FastAPI(
        title="TextFromTrack API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by textfromtrack.docs, without a CDN
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.dispatcher = dispatcher
    app.state.maintenance = maintenance
    app.state.auth_cache = AuthCache(settings.auth_cache_seconds)
    app.state.upload_slots = UploadSlots(
        settings.max_concurrent_uploads,
        settings.max_active_jobs_per_user,
        settings.max_active_jobs_per_ip,
    )
    # Innermost: the route template for the metrics (whatever copied the scope on the
    # way in), and the request id that RequestIdMiddleware (added next) chose, for logs.
    app.add_middleware(metrics_http.RouteNoteMiddleware)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    web_errors.install(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=_body_limit)
    # Outside the body limit (which answers some 413s itself), inside the OpenAI rewrite.
    metrics_http.install(app, settings, db, dispatcher)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outside the body limit, so an upload refused for its size is OpenAI-shaped too.
    app.add_middleware(OpenAIErrorsMiddleware)
    app.include_router(health.router)
    app.include_router(accounts_router.router)
    app.include_router(tokens_router.router)
    app.include_router(accounts_router.v1_router)
    app.include_router(jobs_router.router)
    app.include_router(jobs_events.router)
    app.include_router(jobs_edits.router)
    app.include_router(web_api.router)
    app.include_router(web_pages.router)
    app.include_router(openai_router.router)
    docs.install(app)
    openapi.install(app)
    app.mount("/static", StaticFiles(directory=web_pages.HERE / "static"), name="static")
    return app
