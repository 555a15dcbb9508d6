"""Exceptions: one class per code of the API's error catalogue, plus the client's own.

Every non-2xx answer of the API is the envelope
``{"error": {"code", "message", "details"}}``; ``error_from_response`` turns it into
the class registered for its code, so callers catch what they can act on
(``InsufficientCredits`` -> send the user to ``top_up_url``) rather than parse JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from textfromtrack_client.retry import parse_retry_after

if TYPE_CHECKING:
    from textfromtrack_client.models import Job


class TextFromTrackError(Exception):
    """Base of every error the client raises.

    ``code``, ``message`` and ``details`` come from the API's error envelope;
    ``status`` is the HTTP status, or None for errors that had no response
    (connection failures, a job that failed, a wait that timed out).
    """

    #: The catalogue code this class stands for.
    default_code: ClassVar[str] = "unknown_error"

    def __init__(
        self,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        status: int | None = None,
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.code}{where}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"details={self.details!r}, status={self.status!r})"
        )


# ---------------------------------------------------------------- the API's catalogue


class ValidationError(TextFromTrackError):
    """400 ``validation_error``: a bad field or body, an unsupported file, bad options."""

    default_code = "validation_error"

    @property
    def fields(self) -> dict[str, str]:
        """Offending field -> what was wrong with it, when the server said."""
        raw = self.details.get("fields")
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


class InvalidState(ValidationError):
    """409 ``validation_error``: the job's status does not allow this (export a pending job)."""


class PayloadTooLarge(ValidationError):
    """413 ``validation_error``: the upload exceeds 100 MB."""


class TrackTooLong(ValidationError):
    """400 ``track_too_long``: the audio lasts more than 10 minutes.

    A ValidationError too, since for a caller it is one more thing wrong with the input.
    """

    default_code = "track_too_long"


class Unauthorized(TextFromTrackError):
    """401 ``unauthorized``: missing, unknown, expired or revoked token."""

    default_code = "unauthorized"


class InsufficientCredits(TextFromTrackError):
    """402 ``insufficient_credits``: the balance is below the job's price."""

    default_code = "insufficient_credits"

    @property
    def top_up_url(self) -> str | None:
        value = self.details.get("top_up_url")
        return str(value) if value else None

    @property
    def required(self) -> int | None:
        return _int_or_none(self.details.get("required"))

    @property
    def available(self) -> int | None:
        return _int_or_none(self.details.get("available"))


class Forbidden(TextFromTrackError):
    """403 ``forbidden``: the token lacks the scope, or the account is suspended."""

    default_code = "forbidden"


class NotFound(TextFromTrackError):
    """404 ``not_found``: no such job, or it belongs to someone else (deliberately ambiguous)."""

    default_code = "not_found"


class Gone(TextFromTrackError):
    """410 ``gone``: the export was removed by the retention policy."""

    default_code = "gone"


class RateLimited(TextFromTrackError):
    """429 ``rate_limited``: too many active jobs (2 per user, 3 per address)."""

    default_code = "rate_limited"

    def __init__(
        self,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        status: int | None = None,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, details, status, request_id=request_id)
        #: Seconds the server asked us to wait (its Retry-After header), if it said.
        self.retry_after = retry_after


class InternalError(TextFromTrackError):
    """500 ``internal_error`` (and any 5xx); quote ``request_id`` to the server's operator."""

    default_code = "internal_error"


class UnknownError(TextFromTrackError):
    """An error code this client does not know yet (the API may add codes within v1)."""


# ---------------------------------------------------------------- raised by the client itself


class ConnectionFailed(TextFromTrackError):
    """The server could not be reached (or stopped answering), after any retries."""

    default_code = "connection_error"


class UnexpectedResponse(TextFromTrackError):
    """A 2xx answer that is not the shape API v1 promises (wrong base URL, a proxy page)."""

    default_code = "unexpected_response"


class JobFailed(TextFromTrackError):
    """A job ended in ``error`` (the server refunded it) or was ``cancelled``."""

    default_code = "job_failed"

    def __init__(self, job: Job) -> None:
        code = "job_cancelled" if job.status == "cancelled" else "job_failed"
        reason = job.error or ("cancelled" if job.status == "cancelled" else "no reason given")
        super().__init__(code, f"Job {job.job_id} ended {job.status}: {reason}")
        self.job = job


class WaitTimeout(TextFromTrackError):
    """The job did not finish in time. It keeps running on the server; wait again later."""

    default_code = "wait_timeout"

    def __init__(self, job: Job, timeout: float) -> None:
        super().__init__(
            "wait_timeout",
            f"Job {job.job_id} is still {job.status} after {timeout:g} s; it keeps running "
            "on the server.",
            {"job_id": job.job_id, "status": job.status, "timeout": timeout},
        )
        self.job = job
        self.timeout = timeout


_BY_CODE: dict[str, type[TextFromTrackError]] = {
    cls.default_code: cls
    for cls in (
        ValidationError,
        TrackTooLong,
        Unauthorized,
        InsufficientCredits,
        Forbidden,
        NotFound,
        Gone,
        RateLimited,
        InternalError,
    )
}
# validation_error is shared by three statuses; the status says which situation it is.
_VALIDATION_BY_STATUS: dict[int, type[ValidationError]] = {
    409: InvalidState,
    413: PayloadTooLarge,
}
# For answers without our envelope (a proxy in front of the server, a crash page).
_CODE_BY_STATUS = {
    400: "validation_error",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    409: "validation_error",
    410: "gone",
    413: "validation_error",
    429: "rate_limited",
}


def error_class(code: str, status: int | None) -> type[TextFromTrackError]:
    """The class for an envelope's code, refined by status where one code covers several."""
    if code == "validation_error" and status in _VALIDATION_BY_STATUS:
        return _VALIDATION_BY_STATUS[status]
    return _BY_CODE.get(code, UnknownError)


def error_from_response(response: httpx.Response) -> TextFromTrackError:
    """Build the exception for a non-2xx response (the body must have been read)."""
    status = response.status_code
    request_id = response.headers.get("X-Request-ID")
    code, message, details = _envelope(response)
    if code is None:
        code = _CODE_BY_STATUS.get(status, "internal_error" if status >= 500 else "unknown_error")
    cls = error_class(code, status)
    if issubclass(cls, RateLimited):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return cls(code, message, details, status, request_id=request_id, retry_after=retry_after)
    return cls(code, message, details, status, request_id=request_id)


def _envelope(response: httpx.Response) -> tuple[str | None, str, dict[str, Any]]:
    fallback = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        snippet = response.text.strip()[:200]
        return None, f"{fallback}: {snippet}" if snippet else fallback, {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return None, fallback, {}
    message = error.get("message")
    details = error.get("details")
    return (
        error["code"],
        message if isinstance(message, str) and message else fallback,
        details if isinstance(details, dict) else {},
    )


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
