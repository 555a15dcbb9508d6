"""HTTP metrics and the ``/metrics`` endpoint of ``tft serve``.

``HttpMetricsMiddleware`` times every request and counts it by route template and status.
It also counts admission refusals by reason, from the envelope itself: every layer that
refuses an upload (the body limit, the upload slots, admission, the probe) renders the
same envelope, so reading its code, status and ``details.scope`` counts them all in one
place, however they were raised. It sits outside the body limit (which answers an
oversized Content-Length itself) and inside the OpenAI rewrite (which reshapes errors
on ``/v1``), so it sees every refusal as the envelope.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any, Final

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textfromtrack import metrics
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.errors import Unauthorized
from textfromtrack.metrics.collectors import Forward, JobsCollector, QueueDepthCollector
from textfromtrack.queue.base import Dispatcher

PATH: Final = "/metrics"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"
ROUTE_NOTE: Final = "tft_route"
# 429 scopes that are admission's (a login throttle is not an upload refused).
ADMISSION_SCOPES: Final = frozenset({"user", "ip", "uploads", "user_uploads", "ip_uploads"})
# Only these statuses need the envelope read; a refusal's body is a few hundred bytes.
_READ_BODY_OF: Final = frozenset({400, 429})
_MAX_BODY: Final = 64 * 1024


def refusal_reason(status: int, envelope: dict[str, Any] | None) -> str | None:
    """Why an upload was refused, or None when the response is not such a refusal."""
    if status == 402:
        return "insufficient_credits"
    if status == 413:
        return "too_large"
    if status == 408:
        return "upload_timeout"
    error = (envelope or {}).get("error")
    if not isinstance(error, dict):
        return None
    details = error.get("details")
    if status == 400 and error.get("code") == "track_too_long":
        return "track_too_long"
    if status == 429 and isinstance(details, dict):
        scope = details.get("scope")
        return scope if scope in ADMISSION_SCOPES else None
    return None


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request (never the raw path)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        # A middleware that copied the scope (HEAD served as GET) hid the router's note
        # from this one; RouteNoteMiddleware, inside it, left it in the shared state.
        state = scope.get("state")
        path = state.get(ROUTE_NOTE) if isinstance(state, dict) else None
    return path if isinstance(path, str) else UNMATCHED


class RouteNoteMiddleware:
    """Innermost: copies the matched route's template into the request's state, which
    every copy of the scope shares, for ``HttpMetricsMiddleware`` further out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            path = getattr(scope.get("route"), "path", None)
            state = scope.get("state")
            if isinstance(path, str) and isinstance(state, dict):
                state[ROUTE_NOTE] = path


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        body: list[bytes] | None = None
        size = 0
        is_post = scope.get("method") == "POST"

        async def watch(message: Message) -> None:
            nonlocal status, body, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                body = [] if is_post and status in _READ_BODY_OF else None
            elif message["type"] == "http.response.body" and body is not None:
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= _MAX_BODY:
                    body.append(chunk)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            method = str(scope.get("method", ""))
            method = method if method in METHODS else "other"
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
            if is_post:
                reason = refusal_reason(status, _envelope(body))
                if reason is not None:
                    metrics.ADMISSION_REFUSALS.labels(reason, str(status)).inc()


def _envelope(body: list[bytes] | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        parsed = json.loads(b"".join(body))
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def registry_for(settings: Settings, db: Database, dispatcher: Dispatcher) -> CollectorRegistry:
    """This process's metrics plus what is read at scrape time for this app."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Forward(metrics.REGISTRY))
    registry.register(JobsCollector(db))
    registry.register(QueueDepthCollector(settings, db, getattr(dispatcher, "broker", None)))
    return registry


def authorised(header: str | None, token: str) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def install(app: FastAPI, settings: Settings, db: Database, dispatcher: Dispatcher) -> None:
    """``/metrics`` (left out of the OpenAPI document) and the HTTP middleware, unless
    TFT_METRICS_ENABLED is off. Call it where the middleware belongs in the stack."""
    if not settings.metrics_enabled:
        return
    registry = registry_for(settings, db, dispatcher)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    def scrape(request: Request) -> Response:
        if token and not authorised(request.headers.get("authorization"), token):
            raise Unauthorized("Metrics need the bearer token set in TFT_METRICS_TOKEN.")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(PATH, scrape, methods=["GET"], include_in_schema=False, name="metrics")
    app.add_middleware(HttpMetricsMiddleware)
