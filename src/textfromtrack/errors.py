"""Domain errors and the one error envelope every non-2xx response uses.

Services raise ``ApiError`` subclasses; routers never build error JSON by hand.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"


class ApiError(Exception):
    status_code: int = 400
    code: str = "validation_error"
    default_message: str = "The request is invalid."
    # Most errors undo the request's writes; a few (a failed login's counter) must persist.
    keeps_changes: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(ApiError):
    status_code = 400
    code = "validation_error"


class TrackTooLong(ApiError):
    status_code = 400
    code = "track_too_long"
    default_message = "Audio exceeds the 10-minute limit."


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"
    default_message = "Authentication required."

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class InsufficientCredits(ApiError):
    status_code = 402
    code = "insufficient_credits"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(ApiError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class InvalidState(ApiError):
    status_code = 409
    code = "validation_error"
    default_message = "This operation is not valid in the current state."


class UploadTimeout(ApiError):
    """The client did not finish sending its upload before the read deadline."""

    status_code = 408
    code = "validation_error"
    default_message = "The upload took too long to arrive; send it again."


class Gone(ApiError):
    status_code = 410
    code = "gone"
    default_message = "This resource was removed by the retention policy."


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "validation_error"
    default_message = "Upload exceeds the 100 MB limit."


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int, **kw: Any) -> None:
        headers = dict(kw.pop("headers", None) or {})
        headers["Retry-After"] = str(max(1, retry_after))
        super().__init__(message, headers=headers, **kw)


# Codes for errors the framework raises itself (routing, method, body parsing).
_STATUS_CODES = {
    400: "validation_error",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    405: "validation_error",
    408: "validation_error",
    409: "validation_error",
    410: "gone",
    413: "validation_error",
    415: "validation_error",
    422: "validation_error",
    429: "rate_limited",
}


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(envelope(code, message, details), status_code=status, headers=headers)


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else "-"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's).

    Each method is tried against the app's routes as they match, so routers included
    with a prefix (which expose no method list of their own) count too. HEAD is served
    wherever GET is (see ``HeadAsGetMiddleware``).
    """
    found: set[str] = set()
    for method in _METHODS:
        scope = dict(request.scope, method=method)
        for route in getattr(request.app, "routes", []):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                found.add(method)
                break
    if "GET" in found:
        found.add("HEAD")
    return sorted(found)


def method_not_allowed_headers(request: Request, headers: dict[str, str]) -> dict[str, str]:
    allowed = allowed_methods(request)
    return {**headers, "Allow": ", ".join(allowed)} if allowed else headers


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _STATUS_CODES.get(status, "internal_error" if status >= 500 else "validation_error")
    headers = dict(exc.headers or {})
    details: dict[str, Any] = {}
    if status == 404:
        message = "Not found."
    elif status == 405:
        headers = method_not_allowed_headers(request, headers)
        message = f"Method {original_method(request)} is not allowed here."
        details = {"allowed_methods": headers.get("Allow", "").split(", ")}
    else:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return error_response(status, code, message, details, headers)


def original_method(request: Request) -> str:
    """The method the client sent (HEAD is served as GET internally)."""
    state = request.scope.get("state", {})
    method = state.get(HEAD_AS_GET) if isinstance(state, dict) else None
    return str(method or request.method)


HEAD_AS_GET = "tft_head_as_get"


class HeadAsGetMiddleware:
    """Answer HEAD wherever GET is answered: run the GET, send its headers, drop its body.

    FastAPI's routes list only the methods they declare, so without this every HEAD
    (a download manager checking an export's size, say) would be a 405.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        scope = dict(scope, method="GET")
        scope.setdefault("state", {})[HEAD_AS_GET] = "HEAD"

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            elif message["type"] == "http.response.pathsend":
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, headers_only)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, str] = {}
    for err in exc.errors():
        fields.setdefault(_field_path(err.get("loc", ())), str(err.get("msg", "invalid")))
    names = ", ".join(fields) or "body"
    return error_response(400, "validation_error", f"Invalid request: {names}.", {"fields": fields})


async def _unexpected(request: Request, exc: Exception) -> Response:
    rid = request_id(request)
    log.exception("unhandled error (request_id=%s) on %s %s", rid, request.method, request.url.path)
    return error_response(
        500,
        "internal_error",
        "An unexpected error occurred. Quote the request id if you report it.",
        {"request_id": rid},
        {REQUEST_ID_HEADER: rid},
    )


class RequestIdMiddleware:
    """Tags each request with an id (the client's X-Request-ID when sane) for logs and errors.

    Pure ASGI rather than BaseHTTPMiddleware: that one runs the app in a task group,
    which wraps exceptions raised while reading the body (the upload limit) in groups.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        await self.app(scope, receive, tagged_send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
