"""Receiving an upload over HTTP: bounded in number, under a deadline, with no database.

The routes that take uploads (``POST /api/v1/transcriptions``, ``POST /api/web/jobs``)
authenticate first, in a short transaction of their own, then come here. Only then
is the body read, so a burst of uploads cannot starve the connection pool, and a
request that would be refused anyway is refused before a byte of it is read:

- at most ``max_concurrent_uploads`` bodies are received at once by this process,
  and at most ``max_active_jobs_per_user`` for one account (more could never be
  admitted together), else 429 ``rate_limited`` with Retry-After;
- the whole body must arrive within ``upload_timeout_seconds``, else 408, and the
  slot is free again for everybody else;
- the file is streamed into the uploads folder (or, for a bucket, a local spool it is
  uploaded from after probing) under a generated name and removed again on any failure.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from textfromtrack.accounts.models import User
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.errors import RateLimited, UploadTimeout, ValidationFailed
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job
from textfromtrack.jobs.service import SubmitOptions
from textfromtrack.media import storage, store
from textfromtrack.media.formats import check_extension, extension_of
from textfromtrack.media.store import Store
from textfromtrack.queue.base import Dispatcher

# A client refused for lack of a slot can come back as soon as one upload finishes.
SLOT_RETRY_AFTER_SECONDS = 5
# The form's text fields are a handful of short values and, at most, a song's lyrics
# (20,000 characters: up to 80,000 bytes of UTF-8, line breaks sent as CRLF);
# anything else is abuse.
MAX_TEXT_FIELDS = 16
MAX_TEXT_FIELD_BYTES = 128 * 1024
# Text fields that a client might send as a file part by mistake: refused by name.
TEXT_ONLY_FIELDS = ("lyrics",)
FILE_FIELD = "file"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


class UploadSlots:
    """Counts the uploads this process is receiving: in all, per account, per address.

    An account may have at most ``per_user`` uploads in flight and an address at most
    ``per_ip``: the same numbers as the active-job limits, since more than that could
    never be admitted together. So one client opening a thousand slow uploads holds a
    handful of slots, and everybody else still gets in.
    """

    def __init__(self, total: int, per_user: int, per_ip: int) -> None:
        self.total, self.per_user, self.per_ip = total, per_user, per_ip
        self._lock = threading.Lock()
        self._in_flight = 0
        self._by_key: dict[str, int] = {}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def hold(self, user_id: str, client_ip: str) -> Iterator[None]:
        user_key, ip_key = f"user:{user_id}", f"ip:{client_ip}"
        with self._lock:
            if self._in_flight >= self.total:
                raise RateLimited(
                    "The server is receiving as many uploads as it can right now; "
                    "send the file again in a few seconds.",
                    retry_after=SLOT_RETRY_AFTER_SECONDS,
                    details={"limit": self.total, "scope": "uploads"},
                )
            for key, limit, scope, who in (
                (user_key, self.per_user, "user_uploads", "You are"),
                (ip_key, self.per_ip, "ip_uploads", "Your address is"),
            ):
                if self._by_key.get(key, 0) >= limit:
                    raise RateLimited(
                        f"{who} already uploading {limit} files, as many as can be admitted "
                        "at once. Send the next one when one has finished.",
                        retry_after=SLOT_RETRY_AFTER_SECONDS,
                        details={"limit": limit, "scope": scope},
                    )
            self._in_flight += 1
            for key in (user_key, ip_key):
                self._by_key[key] = self._by_key.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                for key in (user_key, ip_key):
                    left = self._by_key[key] - 1
                    if left:
                        self._by_key[key] = left
                    else:
                        del self._by_key[key]


@dataclass(frozen=True)
class ReceivedUpload:
    """A stored upload (generated name in the uploads folder) and the form's text fields."""

    path: Path
    filename: str
    fields: Mapping[str, str]
    # Every value of every text field, in order (a field may repeat: OpenAI's
    # ``timestamp_granularities[]``); ``fields`` holds the last of each.
    repeated: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return parse_flag(name, self.fields.get(name))

    def text(self, name: str) -> str | None:
        return self.fields.get(name)


def parse_flag(name: str, raw: str | None) -> bool:
    """A form boolean as FastAPI reads one: true/false, 1/0, yes/no, on/off; absent is false."""
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationFailed(
        f"{name} must be true or false.", details={"fields": {name: "must be true or false"}}
    )


async def receive_upload(request: Request, files: Store, timeout_seconds: float) -> ReceivedUpload:
    """Read the multipart body into the store's local spool (for the data dir, the upload's
    own file in its uploads folder); the caller stores or removes ``path`` later."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "multipart/form-data":
        raise ValidationFailed(
            "Send the audio as multipart/form-data with the file in a field named 'file'.",
            details={"fields": {FILE_FIELD: "required (multipart/form-data)"}},
        )
    try:
        async with asyncio.timeout(timeout_seconds):
            form = await request.form(
                max_files=1, max_fields=MAX_TEXT_FIELDS, max_part_size=MAX_TEXT_FIELD_BYTES
            )
    except TimeoutError:
        raise UploadTimeout(
            f"The upload did not arrive within {timeout_seconds:g} seconds; send it again.",
            details={"timeout_seconds": timeout_seconds},
        ) from None
    except ClientDisconnect:
        raise ValidationFailed("The upload was interrupted before it was complete.") from None
    try:
        for name in TEXT_ONLY_FIELDS:
            if isinstance(form.get(name), UploadFile):
                raise ValidationFailed(
                    f"{name} must be a text field, not a file.",
                    details={"fields": {name: "must be text, not a file"}},
                )
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise ValidationFailed(
                "No file was sent: put the audio in a field named 'file'.",
                details={"fields": {FILE_FIELD: "required"}},
            )
        filename = upload.filename or ""
        check_extension(filename)
        items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        fields = dict(items)
        repeated: dict[str, tuple[str, ...]] = {}
        for key, value in items:
            repeated[key] = (*repeated.get(key, ()), value)
        name = storage.new_upload_name(extension_of(filename))
        path = files.spool(store.upload_key(name))
        # The spooled part is copied under the byte limit (the body limit already cut
        # the stream); the copy is a thread's job, never the event loop's.
        await run_in_threadpool(storage.copy_limited, upload.file, path, storage.MAX_UPLOAD_BYTES)
    finally:
        await form.close()
    return ReceivedUpload(path=path, filename=filename, fields=fields, repeated=repeated)


async def accept(
    request: Request,
    db: Database,
    settings: Settings,
    dispatcher: Dispatcher,
    slots: UploadSlots,
    user: User,
    client_ip: str,
    options_of: Callable[[ReceivedUpload], SubmitOptions],
) -> Job:
    """The whole submission after authentication: early refusal, slot, body, admission.

    The database is touched twice, each time in a short transaction of its own (the
    early check, the admission); never while the client is sending.
    """
    # The slot first: it costs no query, so a flood of uploads from one client is
    # turned away before it reaches the database at all.
    with slots.hold(user.id, client_ip):
        await run_in_threadpool(service.precheck, db, settings, user.id, client_ip)
        received = await receive_upload(
            request, store.store_for(settings), settings.upload_timeout_seconds
        )
        try:
            options = options_of(received)
        except BaseException:
            storage.remove_quietly(received.path)
            raise
        return await run_in_threadpool(
            service.admit_upload,
            db,
            settings,
            user,
            received.path,
            received.filename,
            received.filename,
            options,
            client_ip,
            dispatcher,
        )
