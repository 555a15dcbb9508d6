from __future__ import annotations

import pytest

from textfromtrack.web import csrf

SECRET = "s3cret-key-for-tests"


def test_token_is_bound_to_session_and_secret() -> None:
    a = csrf.token_for(SECRET, "session-a")
    assert a == csrf.token_for(SECRET, "session-a")
    assert a != csrf.token_for(SECRET, "session-b")
    assert a != csrf.token_for("other-secret", "session-a")
    assert "=" not in a and len(a) == 43  # 32 bytes, base64url without padding


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        (None, False),
        ("", False),
        ("garbage", False),
        ("__VALID__", True),
        (" __VALID__ ", True),
        ("__VALID__x", False),
        ("__OTHER__", False),
    ],
)
def test_token_valid(presented: str | None, expected: bool) -> None:
    valid = csrf.token_for(SECRET, "sid")
    other = csrf.token_for(SECRET, "another-sid")
    if presented is not None:
        presented = presented.replace("__VALID__", valid).replace("__OTHER__", other)
    assert csrf.token_valid(SECRET, "sid", presented) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("", None),
        ("null", None),
        ("http://Example.COM", "http://example.com"),
        ("http://example.com:80/path?q=1", "http://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("https://example.com:8443/x", "https://example.com:8443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("ftp://example.com", None),
        ("javascript:alert(1)", None),
        ("http://example.com:notaport", None),
        ("//example.com", None),
    ],
)
def test_origin_of(url: str | None, expected: str | None) -> None:
    assert csrf.origin_of(url) == expected


OURS = ["http://127.0.0.1:8000", "https://app.example.com"]


@pytest.mark.parametrize(
    ("method", "origin", "referer", "expected"),
    [
        ("GET", "https://evil.example", None, True),  # safe methods are never refused
        ("HEAD", "https://evil.example", None, True),
        ("POST", None, None, True),  # not a browser: nothing to forge
        ("POST", "http://127.0.0.1:8000", None, True),
        ("POST", "https://app.example.com", None, True),
        ("POST", "https://app.example.com:443", None, True),
        ("POST", "https://evil.example", None, False),
        ("POST", "http://app.example.com", None, False),  # scheme matters
        ("POST", "http://127.0.0.1:8001", None, False),  # port matters
        ("POST", "null", None, False),
        ("DELETE", "https://evil.example", "http://127.0.0.1:8000/app", False),  # Origin wins
        ("POST", None, "http://127.0.0.1:8000/app/account", True),
        ("POST", None, "https://evil.example/page", False),
        ("PUT", None, "not a url", False),
        ("patch", "https://evil.example", None, False),
    ],
)
def test_request_origin_allowed(
    method: str, origin: str | None, referer: str | None, expected: bool
) -> None:
    assert csrf.request_origin_allowed(method, origin, referer, OURS) is expected


def test_unusable_allowed_entries_are_ignored() -> None:
    assert csrf.request_origin_allowed("POST", "https://a.example", None, [None, "junk"]) is False
