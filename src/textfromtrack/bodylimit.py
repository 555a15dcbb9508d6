"""Request body limits, enforced before and while the body is read.

A Content-Length over the limit is refused before a byte is read; a body with no
Content-Length, or one that lies, is cut off the moment it passes the limit.
"""

from __future__ import annotations

from collections.abc import Callable

# FastAPI re-raises its own HTTPException from body parsing; any other error becomes a 400.
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textfromtrack.errors import error_response

# Multipart framing (boundaries, part headers, small form fields) on top of the file itself.
MULTIPART_OVERHEAD = 1024 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], tuple[int, int]]) -> None:
        """``limit_for(scope)`` gives (bytes allowed, the limit to name in the message)."""
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, shown = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(
                413, "validation_error", _message(shown), {"max_bytes": shown}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _message(shown))
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _message(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"Upload exceeds the {limit // (1024 * 1024)} MB limit."
    return f"Request body exceeds {limit} bytes."
