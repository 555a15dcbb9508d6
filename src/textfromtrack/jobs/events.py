"""Live job events: a server-sent events stream per job and per user's job list.

A stream reads the job's row in one short read every ``POLL_SECONDS`` and sends what
changed; it never holds a connection while it waits, so an open page costs a query
a tick and no pooled connection. Events (``data`` is JSON):

- ``status``: the job as ``GET /api/v1/transcriptions/{id}`` shows it, plus ``stage``
  (one of ``stages.STAGES``, null unless processing) and ``retrying`` (the automatic
  retry in music mode is running); sent first and on every change.
- ``attempt``: one attempts_log entry, as each attempt finishes.
- ``end``: the final job (done, error or cancelled), then the stream closes.

The list stream sends ``job`` (a job's summary, with ``stage`` and ``retrying``) for
each of the user's active jobs as it changes, including its final change, and
``idle`` once no job of the user is active, then closes. A stream also closes after
``STREAM_SECONDS``; EventSource reconnects by itself (``retry``), and the first
event after a reconnect is the full current state. Comments keep idle proxies open.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection, bindparam, or_, select

from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database
from textfromtrack.deps import ReadContext, in_connection
from textfromtrack.errors import NotFound
from textfromtrack.jobs import service
from textfromtrack.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from textfromtrack.jobs.schemas import JobSummary
from textfromtrack.timestamps import rfc3339

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
# Bounded so a forgotten tab, or a server shutting down, never waits on a stream for
# long; the browser reconnects after RETRY_MS.
STREAM_SECONDS = 30.0
RETRY_MS = 1000
FINAL = (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)

_CHARGED = credits.charged_column(Job.id).label("charged")
_OWNED = Job.user_id == bindparam("user_id")
_JOB = select(*service.SHOWN, _CHARGED, Job.stage, Job.attempts_log).where(
    Job.id == bindparam("job_id"), _OWNED
)
_LIST = select(*service.SHOWN, _CHARGED, Job.stage).where(
    _OWNED,
    or_(Job.status.in_(ACTIVE_STATUSES), Job.id.in_(bindparam("ids", expanding=True))),
)

HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and other proxies would otherwise buffer the stream into silence.
    "X-Accel-Buffering": "no",
}


def sse(event: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_default)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def shown(facts: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A row's facts as the API shows the job, with its live stage."""
    charged = facts["credits_quoted"] if facts["charged"] else 0
    out = JobSummary.fields_of(facts, charged, settings.export_retention_days)
    processing = facts["status"] == JobStatus.PROCESSING
    stage = facts.get("stage") if processing else None
    out["stage"] = stage
    # A standard job past its first attempt, still running: the automatic retry.
    out["retrying"] = bool(
        processing and not facts["vintage"] and (stage == "retrying" or facts["attempts"] >= 1)
    )
    out["status"] = str(facts["status"].value)
    return out


def _rows(
    connection: Connection, *, statement: Any, params: dict[str, Any]
) -> list[dict[str, Any]]:
    result = connection.execute(statement, params)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def read_job(connection: Connection, user_id: str, job_id: str) -> dict[str, Any]:
    """The caller's job with its stage and attempts_log; someone else's is 404."""
    found = (
        _rows(connection, statement=_JOB, params={"job_id": job_id, "user_id": user_id})
        if len(job_id) <= 36
        else []
    )
    if not found:
        raise NotFound("No such transcription.")
    return found[0]


class Ticker:
    """The stream's pace: ``wait()`` sleeps POLL_SECONDS and says what to do next."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.started = self.last = time.monotonic()

    async def wait(self) -> bool | None:
        """None: end the stream (lifetime over, or the client left); True: a keep-alive
        comment is due; False: just read again."""
        await asyncio.sleep(POLL_SECONDS)
        now = time.monotonic()
        if now - self.started >= STREAM_SECONDS or await self.request.is_disconnected():
            return None
        if now - self.last >= KEEPALIVE_SECONDS:
            self.last = now
            return True
        return False


async def job_stream(
    request: Request, db: Database, settings: Settings, user_id: str, job_id: str
) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    ticker = Ticker(request)
    sent: dict[str, Any] | None = None
    attempts_sent = 0
    while True:
        try:
            facts = await in_connection(db, lambda c: read_job(c, user_id, job_id))
        except NotFound:
            return  # deleted while watched
        log = facts.pop("attempts_log") or []
        now = shown(facts, settings)
        if facts["status"] in FINAL:
            # The final event carries the whole log with its final verdicts.
            yield sse("end", {**now, "attempts_log": log})
            return
        for entry in log[attempts_sent:]:
            yield sse("attempt", {"job_id": job_id, **entry})
        attempts_sent = max(attempts_sent, len(log))
        if now != sent:
            yield sse("status", now)
            sent = now
        tick = await ticker.wait()
        if tick is None:
            return
        if tick:
            yield b": keep-alive\n\n"


async def list_stream(
    request: Request, db: Database, settings: Settings, user_id: str
) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    ticker = Ticker(request)
    sent: dict[str, dict[str, Any]] = {}
    while True:
        # The active jobs, and those seen active before, so their final change is sent.
        params = {"user_id": user_id, "ids": list(sent) or [""]}
        rows = await in_connection(db, functools.partial(_rows, statement=_LIST, params=params))
        for facts in rows:
            now = shown(facts, settings)
            if sent.get(now["job_id"]) != now:
                yield sse("job", now)
            sent[now["job_id"]] = now
        for job_id in [k for k, v in sent.items() if v["status"] in FINAL]:
            del sent[job_id]
        if not sent:
            yield sse("idle", {})
            return
        tick = await ticker.wait()
        if tick is None:
            return
        if tick:
            yield b": keep-alive\n\n"


def streaming(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


router = APIRouter(prefix="/api/v1/transcriptions", tags=["v1"])


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    summary="Live status, stage and attempts (server-sent events)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(job_id: str, ctx: ReadContext, request: Request) -> StreamingResponse:
    """``text/event-stream``: ``status`` on every change (the poll's fields plus ``stage``
    and ``retrying``), ``attempt`` as each attempt finishes, ``end`` with the final job,
    then the stream closes. An addition to v1: polling the job works as before."""
    await in_connection(ctx.db, lambda c: read_job(c, ctx.user_id, job_id))  # 404 first
    return streaming(job_stream(request, ctx.db, ctx.settings, ctx.user_id, job_id))
