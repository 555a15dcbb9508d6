"""Which exception an error response becomes: a table over codes, statuses and bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from textfromtrack_client import (
    Forbidden,
    Gone,
    InsufficientCredits,
    InternalError,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TextFromTrackError,
    TrackTooLong,
    Unauthorized,
    UnknownError,
    ValidationError,
)
from textfromtrack_client.errors import error_from_response


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers=headers or {},
        request=httpx.Request("GET", "http://server/api/v1/me"),
    )


def envelope(code: str, message: str = "m", **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


# Every row of the spec's error catalogue.
@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "validation_error", ValidationError),
        (400, "track_too_long", TrackTooLong),
        (401, "unauthorized", Unauthorized),
        (402, "insufficient_credits", InsufficientCredits),
        (403, "forbidden", Forbidden),
        (404, "not_found", NotFound),
        (409, "validation_error", InvalidState),
        (410, "gone", Gone),
        (413, "validation_error", PayloadTooLarge),
        (429, "rate_limited", RateLimited),
        (500, "internal_error", InternalError),
    ],
)
def test_the_catalogue(status: int, code: str, cls: type[TextFromTrackError]) -> None:
    error = error_from_response(response(status, envelope(code, "what happened", a=1)))
    assert type(error) is cls
    assert (error.code, error.message, error.details, error.status) == (
        code,
        "what happened",
        {"a": 1},
        status,
    )
    assert str(error) == f"{code} (HTTP {status}): what happened"


def test_validation_subclasses_are_still_validation_errors() -> None:
    for cls in (InvalidState, PayloadTooLarge, TrackTooLong):
        assert issubclass(cls, ValidationError)


def test_insufficient_credits_details() -> None:
    body = envelope("insufficient_credits", required=2, available=0, top_up_url="https://t.example")
    error = error_from_response(response(402, body))
    assert isinstance(error, InsufficientCredits)
    assert (error.required, error.available, error.top_up_url) == (2, 0, "https://t.example")
    bare = error_from_response(response(402, envelope("insufficient_credits")))
    assert isinstance(bare, InsufficientCredits)
    assert (bare.required, bare.available, bare.top_up_url) == (None, None, None)


@pytest.mark.parametrize(("header", "seconds"), [("15", 15.0), (None, None), ("x", None)])
def test_rate_limited_reads_retry_after(header: str | None, seconds: float | None) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    error = error_from_response(response(429, envelope("rate_limited"), headers))
    assert isinstance(error, RateLimited) and error.retry_after == seconds


def test_validation_fields() -> None:
    error = error_from_response(response(400, envelope("validation_error", fields={"file": "bad"})))
    assert isinstance(error, ValidationError) and error.fields == {"file": "bad"}
    assert ValidationError("validation_error", "m").fields == {}


def test_an_unknown_code_keeps_its_code() -> None:
    error = error_from_response(response(418, envelope("teapot_overheated")))
    assert type(error) is UnknownError
    assert (error.code, error.status) == ("teapot_overheated", 418)


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (502, "<html>Bad Gateway</html>", InternalError, "internal_error"),
        (503, "", InternalError, "internal_error"),
        (401, "Unauthorized", Unauthorized, "unauthorized"),
        (404, {"detail": "Not Found"}, NotFound, "not_found"),
        (429, [1, 2], RateLimited, "rate_limited"),
        (418, "", UnknownError, "unknown_error"),
    ],
)
def test_answers_without_the_envelope_map_by_status(
    status: int, body: Any, cls: type[TextFromTrackError], code: str
) -> None:
    error = error_from_response(response(status, body))
    assert type(error) is cls and error.code == code and error.status == status
    assert error.message.startswith(f"HTTP {status}")
    if body == "<html>Bad Gateway</html>":
        assert "Bad Gateway" in error.message  # a snippet helps tell a proxy from the API


def test_the_request_id_is_kept() -> None:
    error = error_from_response(
        response(500, envelope("internal_error"), {"X-Request-ID": "abc123"})
    )
    assert error.request_id == "abc123"
