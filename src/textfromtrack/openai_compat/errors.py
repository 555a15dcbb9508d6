"""Errors on ``/v1/*`` in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``.

Every error of the service is raised and rendered once, as the spec's envelope; this
middleware rewrites the envelope on this surface only, whichever layer produced it
(the body limit, the upload slots, a handler, a crash), so OpenAI SDKs raise the
exception class that matches. ``/api/v1`` keeps the envelope.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textfromtrack.openai_compat.shapes import openai_error

PREFIX = "/v1/"


class OpenAIErrorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = MutableHeaders(raw=message.get("headers", [])).get(
                    "content-type", ""
                )
                if message["status"] >= 400 and content_type.startswith("application/json"):
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            try:
                envelope = json.loads(b"".join(chunks))
            except ValueError:
                envelope = {}
            status, body, extra = openai_error(int(start["status"]), envelope)
            payload = json.dumps(body, ensure_ascii=False).encode()
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            headers["content-length"] = str(len(payload))
            for name, value in extra.items():
                headers[name] = value
            await send({"type": "http.response.start", "status": status, "headers": headers.raw})
            await send({"type": "http.response.body", "body": payload, "more_body": False})

        await self.app(scope, receive, rewrite)
