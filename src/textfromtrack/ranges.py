"""File responses whose Range errors use the error envelope like every other error.

Starlette's FileResponse answers a malformed or unsatisfiable ``Range`` header with a
text/plain 400 or 416 of its own; clients of this API parse one envelope for every
non-2xx response, so those two cases are checked here first and answered in it.
"""

from __future__ import annotations

import os

import anyio
from starlette.datastructures import Headers
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from textfromtrack.errors import error_response


class RangedFileResponse(FileResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        http_range = headers.get("range")
        method = str(scope.get("method", "GET")).upper()
        if scope["type"] == "http" and http_range is not None and method in ("GET", "HEAD"):
            if self.stat_result is None:
                self.stat_result = await anyio.to_thread.run_sync(os.stat, self.path)
                self.set_stat_headers(self.stat_result)
            if_range = headers.get("if-range")
            if if_range is None or self._should_use_range(if_range):
                size = self.stat_result.st_size
                try:
                    self._parse_range_header(http_range, size)
                except RangeNotSatisfiable:
                    response = error_response(
                        416,
                        "validation_error",
                        f"The requested range is outside the file ({size} bytes).",
                        {"range": http_range[:200], "size": size},
                        {"Content-Range": f"bytes */{size}"},
                    )
                    await response(scope, receive, send)
                    return
                except (MalformedRangeHeader, ValueError) as exc:
                    reason = getattr(exc, "content", "") or "malformed Range header"
                    response = error_response(
                        400,
                        "validation_error",
                        f"Invalid Range header: {reason}.",
                        {"fields": {"range": str(reason)}},
                    )
                    await response(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)
