"""Log lines a fleet can read.

Every line carries the job id and the request id where there is one: the request side
binds the request id (``RequestContextMiddleware``, inside errors.RequestIdMiddleware);
the job keeps it in its row (``jobs.request_id``), so the worker that runs the job,
whichever process that is, binds both again (``job_context``). Job events (accepted,
claimed, attempt, done, failed) are one line each with their fields (``job_event``).

``TFT_LOG_FORMAT=text`` (the default) is for people; ``json`` writes one JSON object per
line: time, level, logger, message, job_id and request_id when present, the event and
its fields, and the traceback as ``exc_info``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("tft_request_id", default=None)
JOB_ID: ContextVar[str | None] = ContextVar("tft_job_id", default=None)

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else passed as ``extra`` is the caller's.
# (uvicorn adds color_message: the same text with terminal colours.)
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
_CONTEXT: Final = ("job_id", "request_id")


def current_request_id() -> str | None:
    return REQUEST_ID.get()


class ContextFilter(logging.Filter):
    """Puts the bound job id and request id on each record (an explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = JOB_ID.get()
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """The classic line, with ``[job_id=… request_id=…]`` at its end when bound."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        tags = [f"{k}={v}" for k in _CONTEXT if (v := getattr(record, k, None))]
        return f"{line} [{' '.join(tags)}]" if tags else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            if value := getattr(record, key, None):
                out[key] = value
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in _CONTEXT and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(level: str, fmt: LogFormat, stream: IO[str] | None = None) -> None:
    """The root logger writes ``fmt`` lines to ``stream`` (stderr now: in a Dramatiq
    child that is its logging pipe). Replaces whatever handlers were there."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(ContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def job_event(
    logger: logging.Logger,
    event: str,
    job_id: str,
    message: str,
    *args: object,
    level: int = logging.INFO,
    **fields: object,
) -> None:
    """One line for a job event: ``job <id> <message>``, with ``event`` and ``fields``
    as keys of their own in JSON."""
    logger.log(
        level,
        "job %s " + message,
        job_id,
        *args,
        extra={"event": event, "job_id": job_id, **fields},
    )


@contextmanager
def job_context(job_id: str, request_id: str | None) -> Iterator[None]:
    """Bind a job (and the request that submitted it) to this thread's log lines."""
    job_token = JOB_ID.set(job_id)
    request_token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(request_token)
        JOB_ID.reset(job_token)


class RequestContextMiddleware:
    """Binds the request id that errors.RequestIdMiddleware chose (so it must run inside
    that one) for every line logged while the request is served, threadpool included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state")
        rid = state.get("request_id") if isinstance(state, dict) else None
        if scope["type"] != "http" or not isinstance(rid, str):
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)
