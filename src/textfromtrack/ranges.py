"""File responses whose Range errors use the error envelope like every other error.

Starlette's FileResponse answers a malformed or unsatisfiable ``Range`` header with a
text/plain 400 or 416 of its own; clients of this API parse one envelope for every
non-2xx response, so those two cases are checked here first and answered in it.

A file in a bucket (``RangedObjectResponse``) is answered the same way, headers and
errors alike, with each range read from the store by a ranged GetObject: seeking in
a long track fetches only the bytes the player asks for.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from secrets import token_hex

import anyio
from starlette.concurrency import iterate_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
)
from starlette.types import Receive, Scope, Send

from textfromtrack.errors import error_response
from textfromtrack.media.store import Store, StoredObject


def _range_error(http_range: str, size: int) -> Response | None:
    """The envelope answer for a Range header that cannot be served, else None."""
    try:
        FileResponse._parse_range_header(http_range, size)
    except RangeNotSatisfiable:
        return error_response(
            416,
            "validation_error",
            f"The requested range is outside the file ({size} bytes).",
            {"range": http_range[:200], "size": size},
            {"Content-Range": f"bytes */{size}"},
        )
    except (MalformedRangeHeader, ValueError) as exc:
        reason = getattr(exc, "content", "") or "malformed Range header"
        return error_response(
            400,
            "validation_error",
            f"Invalid Range header: {reason}.",
            {"fields": {"range": str(reason)}},
        )
    return None


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
                refusal = _range_error(http_range, self.stat_result.st_size)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def _stat_of(found: StoredObject) -> os.stat_result:
    # FileResponse derives Content-Length, Last-Modified and the ETag from a stat result;
    # an object's size and time give the same headers a file would.
    mtime = found.modified.timestamp()
    return os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, found.size, mtime, mtime, mtime))


class RangedObjectResponse(FileResponse):
    """An object in a store, served like a file: 200, one range (206), several ranges
    (206 multipart/byteranges), HEAD and If-Range as FileResponse does, errors in the
    envelope. FileResponse supplies the header and range logic; only reading differs."""

    def __init__(
        self,
        store: Store,
        found: StoredObject,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            Path(found.name),
            media_type=media_type,
            headers=headers,
            stat_result=_stat_of(found),
        )
        self.store, self.key = store, found.key

    async def _body(self, send: Send, start: int, end: int) -> None:
        chunks: Iterator[bytes] = self.store.read(self.key, start, end)
        async for chunk in iterate_in_threadpool(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.stat_result is not None
        size = self.stat_result.st_size
        headers = Headers(scope=scope)
        method = str(scope.get("method", "GET")).upper()
        head_only = method == "HEAD"
        http_range = headers.get("range")
        if_range = headers.get("if-range")
        ranges: list[tuple[int, int]] = []
        if http_range is not None and (if_range is None or self._should_use_range(if_range)):
            refusal = _range_error(http_range, size)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            ranges = self._parse_range_header(http_range, size)
        out = MutableHeaders(raw=list(self.raw_headers))
        if not ranges:
            await send({"type": "http.response.start", "status": 200, "headers": out.raw})
            if not head_only:
                await self._body(send, 0, size)
        elif len(ranges) == 1:
            start, end = ranges[0]
            out["content-range"] = f"bytes {start}-{end - 1}/{size}"
            out["content-length"] = str(end - start)
            await send({"type": "http.response.start", "status": 206, "headers": out.raw})
            if not head_only:
                await self._body(send, start, end)
        else:
            boundary = token_hex(13)
            length, part_header = self.generate_multipart(
                ranges, boundary, size, self.headers["content-type"]
            )
            out["content-type"] = f"multipart/byteranges; boundary={boundary}"
            out["content-length"] = str(length)
            await send({"type": "http.response.start", "status": 206, "headers": out.raw})
            if not head_only:
                for start, end in ranges:
                    body = part_header(start, end)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    await self._body(send, start, end)
                    await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
                tail = f"--{boundary}--".encode("latin-1")
                await send({"type": "http.response.body", "body": tail, "more_body": False})
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def stored_file_response(
    store: Store, key: str, media_type: str, headers: Mapping[str, str] | None = None
) -> Response | None:
    """The response for a stored file with Range support, or None when it is gone. A file
    in a local folder is sent as a file (exactly as before there were buckets)."""
    if store.on_this_machine:
        path = store.local_file(key)
        if path is None:
            return None
        return RangedFileResponse(path, media_type=media_type, headers=headers)
    found = store.stat(key)
    if found is None:
        return None
    return RangedObjectResponse(store, found, media_type, headers)
