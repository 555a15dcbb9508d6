"""The synchronous client for TextFromTrack API v1."""

from __future__ import annotations

import logging
import mimetypes
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from textfromtrack_client.errors import (
    ConnectionFailed,
    JobFailed,
    Unauthorized,
    UnexpectedResponse,
    WaitTimeout,
    error_from_response,
)
from textfromtrack_client.models import (
    Job,
    JobPage,
    JobStatus,
    Me,
    Segments,
    Submission,
    Transcription,
)
from textfromtrack_client.retry import RetryPolicy, parse_retry_after

log = logging.getLogger("textfromtrack_client")

DEFAULT_BASE_URL = "http://127.0.0.1:8000/api/v1"
#: Per request. Generous because an upload may be up to 100 MB on a slow link.
DEFAULT_TIMEOUT = 120.0
#: For ``wait``: vintage mode on ten minutes of audio takes up to ~5 minutes, plus the queue.
DEFAULT_WAIT_TIMEOUT = 900.0
DEFAULT_POLL_INTERVAL = 2.0
#: The per-page maximum the API allows; fewer round trips when iterating everything.
MAX_PER_PAGE = 200

# Worth retrying on an idempotent request. Not UnsupportedProtocol or LocalProtocolError:
# those are mistakes on our side that would fail the same way again.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

T = TypeVar("T")
Pathish = str | os.PathLike[str]


def _version() -> str:
    try:
        return metadata.version("textfromtrack-client")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


__version__ = _version()


class TextFromTrack:
    """A client for one account on one server.

    ``token`` and ``base_url`` default to the environment variables ``TFT_TOKEN`` and
    ``TFT_BASE_URL`` (then ``http://127.0.0.1:8000/api/v1``). Use it as a context
    manager, or call ``close()``, to release its connections. One instance may be
    shared between threads.

    Idempotent requests (everything but ``submit``) are retried on 429, 502, 503,
    504 and connection failures, with exponential backoff and jitter, honouring
    Retry-After; ``retry`` tunes that (``retry.NO_RETRY`` turns it off).
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        token = token if token is not None else os.environ.get("TFT_TOKEN", "")
        if not token.strip():
            raise Unauthorized(
                "unauthorized", "No API token: pass token=... or set TFT_TOKEN (tft_pat_...)."
            )
        self.base_url = (base_url or os.environ.get("TFT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._rng = random.Random()  # noqa: S311 - only spreads retry times
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={
                "Authorization": f"Bearer {token.strip()}",
                "Accept": "application/json",
                "User-Agent": f"textfromtrack-client/{__version__} httpx/{httpx.__version__}",
            },
            transport=transport,
        )

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TextFromTrack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TextFromTrack(base_url={self.base_url!r})"  # never the token

    # ------------------------------------------------------------ the API

    def submit(
        self,
        path: Pathish,
        pinyin: bool = False,
        vintage: bool = False,
        language: str | None = None,
        *,
        chinese_script: str | None = None,
    ) -> Submission:
        """Upload an audio file; returns at once with the job id (one credit reserved).

        Never retried: a request that failed midway may have created the job already.
        """
        source = Path(path)
        form = {"pinyin": _form_bool(pinyin), "vintage": _form_bool(vintage)}
        if language:
            form["language"] = language
        if chinese_script:
            form["chinese_script"] = chinese_script
        content_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        with source.open("rb") as fh:
            response = self._request(
                "POST",
                "/transcriptions",
                files={"file": (source.name, fh, content_type)},
                data=form,
            )
        return self._parse(Submission.from_dict, response)

    def get(self, job_id: str) -> Job:
        """The job's status and metadata, with its attempts log."""
        return self._parse(Job.from_dict, self._request("GET", _job_path(job_id)))

    def wait(
        self,
        job_id: str,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        on_update: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll until the job is done and return it.

        Raises ``JobFailed`` when it ends in error or is cancelled, ``WaitTimeout``
        after ``timeout`` seconds (None: no limit). A Retry-After on a poll answer
        replaces ``poll_interval`` for that wait. ``on_update`` sees every poll; an
        exception it raises stops the wait (the job itself keeps running).
        """
        started = time.monotonic()
        while True:
            response = self._request("GET", _job_path(job_id))
            job = self._parse(Job.from_dict, response)
            if on_update is not None:
                on_update(job)
            if job.status == JobStatus.DONE:
                return job
            if job.finished:
                raise JobFailed(job)
            hint = parse_retry_after(response.headers.get("Retry-After"))
            delay = hint if hint is not None else poll_interval
            if timeout is not None:
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0:
                    raise WaitTimeout(job, timeout)
                # Sleep to the deadline at most, so the last poll happens right at it.
                delay = min(delay, remaining)
            time.sleep(max(0.0, delay))

    def segments(self, job_id: str) -> Segments:
        """The timestamped transcript of a done job."""
        return self._parse(
            Segments.from_dict, self._request("GET", f"{_job_path(job_id)}/segments")
        )

    def export(self, job_id: str, format: str = "txt") -> bytes:
        """One export file of a done job: txt, srt, lrc, json or vtt."""
        response = self._request("GET", f"{_job_path(job_id)}/export", params={"format": format})
        return response.content

    def list(self, page: int = 1, per_page: int = 50, status: str | None = None) -> JobPage:
        """One page of your jobs, newest first; ``status`` filters (pending, done, error...)."""
        params: dict[str, str | int] = {"page": page, "per_page": per_page}
        if status:
            params["status"] = status
        return self._parse(
            JobPage.from_dict, self._request("GET", "/transcriptions", params=params)
        )

    def iter_jobs(self, status: str | None = None, per_page: int = MAX_PER_PAGE) -> Iterator[Job]:
        """Every job, newest first, page by page."""
        seen: set[str] = set()
        page = 1
        while True:
            batch = self.list(page=page, per_page=per_page, status=status)
            for job in batch.transcriptions:
                # A job created while we iterate shifts the pages by one, which would hand
                # us the last job of a page again at the top of the next.
                if job.job_id not in seen:
                    seen.add(job.job_id)
                    yield job
            if not batch.has_next or not batch.transcriptions:
                return
            page += 1

    def delete(self, job_id: str) -> Job:
        """Cancel (a pending job is refunded) or delete (a done job's exports go)."""
        return self._parse(Job.from_dict, self._request("DELETE", _job_path(job_id)))

    def me(self) -> Me:
        """Your account and credit balance."""
        return self._parse(Me.from_dict, self._request("GET", "/me"))

    def transcribe(
        self,
        path: Pathish,
        *,
        formats: Iterable[str] = ("lrc",),
        pinyin: bool = False,
        vintage: bool = False,
        language: str | None = None,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_update: Callable[[Job], None] | None = None,
    ) -> Transcription:
        """Submit, wait, then fetch the segments and the requested export files."""
        submission = self.submit(path, pinyin=pinyin, vintage=vintage, language=language)
        job = self.wait(submission.job_id, timeout, poll_interval, on_update=on_update)
        segments = self.segments(job.job_id)
        exports = {fmt: self.export(job.job_id, fmt) for fmt in dict.fromkeys(formats)}
        return Transcription(job=job, segments=segments.segments, exports=exports)

    # ------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        retries = 0
        while True:
            try:
                response = self._http.request(method, path, params=params, files=files, data=data)
            except _TRANSIENT as exc:
                delay = self._retry_delay(method, retries + 1, None)
                if delay is None:
                    raise self._connection_failed(method, path, exc) from exc
                reason = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:
                raise self._connection_failed(method, path, exc) from exc
            else:
                if response.is_success:
                    return response
                delay = None
                if response.status_code in self.retry.statuses:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    delay = self._retry_delay(method, retries + 1, retry_after)
                if delay is None:
                    raise error_from_response(response)
                reason = f"HTTP {response.status_code}"
            retries += 1
            log.info(
                "%s %s: %s; retry %d/%d in %.1f s",
                method,
                path,
                reason,
                retries,
                self.retry.max_retries,
                delay,
            )
            time.sleep(delay)

    def _retry_delay(self, method: str, retry: int, retry_after: float | None) -> float | None:
        if not self.retry.retries_method(method):
            return None
        return self.retry.delay(retry, retry_after, self._rng)

    def _connection_failed(self, method: str, path: str, exc: Exception) -> ConnectionFailed:
        message = f"{method} {self.base_url}{path} failed: {exc or type(exc).__name__}"
        if not self.retry.retries_method(method) and isinstance(exc, httpx.TimeoutException):
            # The upload may have arrived and the job been admitted before the answer was lost.
            message += " (the job may have been created anyway: check your job list)"
        return ConnectionFailed("connection_error", message)

    @staticmethod
    def _parse(parser: Callable[[dict[str, Any]], T], response: httpx.Response) -> T:
        try:
            body = response.json()
            if not isinstance(body, dict):
                raise TypeError(f"expected a JSON object, got {type(body).__name__}")
            return parser(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise UnexpectedResponse(
                "unexpected_response",
                f"{response.request.method} {response.request.url} answered something that is "
                f"not API v1 ({type(exc).__name__}: {exc}). Is the base URL right?",
                status=response.status_code,
            ) from exc


def _job_path(job_id: str) -> str:
    # Quoted so an id can never step out of /transcriptions/ (a "../me" typo, a pasted URL).
    return f"/transcriptions/{quote(job_id, safe='')}"


def _form_bool(value: bool) -> str:
    return "true" if value else "false"
