"""Errors met by a person browsing get a page in plain words; API callers keep the envelope.

The envelope handlers from textfromtrack.errors stay in charge of everything under
/api and of any request that does not ask for HTML; only page navigations (a GET whose
Accept names text/html, outside the API and the static files) are answered with
error.html. The handlers are wrapped, not replaced, so there is one mapping of errors
to status codes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.deps import SESSION_COOKIE, WebCaller, web_caller_for
from textfromtrack.errors import ApiError, method_not_allowed_headers, request_id
from textfromtrack.web.router import render

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]

NOT_PAGES = ("/api/", "/static/", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics")

HEADINGS = {
    404: ("Page not found", "There is nothing at this address. Check the link, or start again."),
    405: ("Not available", "This page cannot be used that way."),
}


def wants_page(request: Request) -> bool:
    return (
        request.method in {"GET", "HEAD"}
        and not request.url.path.startswith(NOT_PAGES)
        and "text/html" in request.headers.get("accept", "")
    )


def _signed_in(request: Request, settings: Settings) -> WebCaller | None:
    """The visitor's web session, so an error page keeps the signed-in menu (Account,
    Log out) rather than offering "Log in" to someone who is.

    Exception handlers run outside the dependency system, so the cookie is resolved
    here. An error page must never fail in turn: when the lookup itself fails (the
    database is what broke, say) the page is shown signed out.
    """
    try:
        db: Database = request.app.state.db
        with db.sessionmaker() as session:
            # The user's loaded attributes stay readable once the session closes.
            return web_caller_for(
                session, settings, request.cookies.get(SESSION_COOKIE), via_cookie=True
            )
    except Exception:
        log.warning("could not read the web session for an error page", exc_info=True)
        return None


def _page(request: Request, status: int, heading: str, message: str) -> Response:
    """The error page; blocking (the session look-up), so handlers run it in the threadpool."""
    settings: Settings = request.app.state.settings
    caller = _signed_in(request, settings)
    return render(
        request,
        "error.html",
        caller,
        settings,
        status_code=status,
        heading=heading,
        message=message,
    )


def install(app: FastAPI) -> None:
    """Wrap the envelope handlers already installed on ``app``."""
    http_handler: Handler = app.exception_handlers[StarletteHTTPException]  # type: ignore[assignment]
    api_handler: Handler = app.exception_handlers[ApiError]  # type: ignore[assignment]
    crash_handler: Handler = app.exception_handlers[Exception]  # type: ignore[assignment]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not wants_page(request):
            return await http_handler(request, exc)
        heading, message = HEADINGS.get(
            exc.status_code, ("Something went wrong", "The request could not be completed.")
        )
        page = await run_in_threadpool(_page, request, exc.status_code, heading, message)
        if exc.status_code == 405:
            page.headers.update(method_not_allowed_headers(request, {}))
        return page

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if not wants_page(request):
            return await api_handler(request, exc)
        return await run_in_threadpool(
            _page, request, exc.status_code, "Something went wrong", exc.message
        )

    async def crash(request: Request, exc: Exception) -> Response:
        logged = await crash_handler(request, exc)  # logs it under the request id
        if not wants_page(request):
            return logged
        return await run_in_threadpool(
            _page,
            request,
            500,
            "Something went wrong on our side",
            "Please try again in a moment. If it keeps happening, report it with this "
            f"reference: {request_id(request)}.",
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Exception, crash)
