"""CSRF, the Content-Security-Policy and the session cookie, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import PASSWORD, assert_envelope, make_account
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.main import create_app
from textfromtrack.web.security import CONTENT_SECURITY_POLICY
from web.conftest import Browser, csrf_of, sign_up

EVIL = "https://evil.example"
SAME_SITE_OTHER_PORT = "http://testserver:8081"


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_policy_allows_only_our_own_scripts() -> None:
    policy = csp_directives(CONTENT_SECURITY_POLICY)
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path", ["/", "/login", "/signup", "/developers", "/static/app.js", "/api/v1/me", "/nowhere"]
)
def test_security_headers_on_pages_files_and_errors(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Accept": "text/html"})
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"


def test_swagger_ui_keeps_working_without_the_app_policy(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert "content-security-policy" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


def test_pages_carry_no_inline_script_or_handler(client: TestClient, browser: Browser) -> None:
    for path in ("/", "/app", "/app/account", "/developers", "/login"):
        html = client.get(path).text
        assert "<script>" not in html and '<script type="module">' not in html
        assert " onclick=" not in html and " onload=" not in html and "javascript:" not in html
        assert '<script type="module" src="/static/common.js"></script>' in html


def test_session_cookie_is_httponly_lax_and_not_secure_over_http(client: TestClient) -> None:
    account = make_account(client)
    r = client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


@pytest.mark.parametrize(
    ("public_url", "base_url"),
    [("https://tft.example", "http://testserver"), ("http://127.0.0.1:8000", "https://testserver")],
)
def test_session_cookie_is_secure_over_https(
    settings: Settings, database: Database, public_url: str, base_url: str
) -> None:
    app = create_app(settings.model_copy(update={"public_base_url": public_url}), database)
    with TestClient(app, base_url=base_url) as c:
        account = make_account(c)
        r = c.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
        assert "secure" in r.headers["set-cookie"].lower()
        out = c.post("/api/auth/logout", headers=account.web)
        assert "secure" in out.headers["set-cookie"].lower()


# ---------------------------------------------------------------- CSRF


def unsafe_requests(browser: Browser, tone: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """One of every state-changing request the app makes with its cookie."""
    job_id = browser.upload(tone).json()["job_id"]
    token_id = browser.client.post(
        "/api/auth/tokens", json={"name": "kept"}, headers=browser.headers()
    ).json()["id"]
    return [
        ("POST", "/api/web/jobs", {"files": {"file": ("t.flac", tone.read_bytes())}}),
        ("DELETE", f"/api/web/jobs/{job_id}", {}),
        ("POST", f"/api/web/jobs/{job_id}/retry-music", {}),
        ("POST", "/api/auth/tokens", {"json": {"name": "forged"}}),
        ("DELETE", f"/api/auth/tokens/{token_id}", {}),
        ("POST", "/api/auth/logout", {}),
    ]


def test_cookie_requests_without_the_csrf_token_are_refused(browser: Browser, tone: Path) -> None:
    for method, path, kw in unsafe_requests(browser, tone):
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
            r = browser.client.request(method, path, headers=headers, **kw)
            error = assert_envelope(r, 403, "forbidden")
            assert error["details"]["reason"] == "csrf_token_missing_or_wrong", (method, path)
    # Nothing happened: the job is still pending, the token still listed, the session alive.
    jobs = browser.client.get("/api/web/jobs").json()
    assert [j["status"] for j in jobs["jobs"]] == ["pending"]
    tokens = browser.client.get("/api/auth/tokens").json()
    assert [t["name"] for t in tokens] == ["kept"] and not tokens[0]["revoked"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": SAME_SITE_OTHER_PORT},
        {"Origin": "null"},
        {"Referer": f"{EVIL}/attack.html"},
    ],
)
def test_cookie_requests_from_another_origin_are_refused_even_with_the_token(
    browser: Browser, headers: dict[str, str]
) -> None:
    r = browser.client.post(
        "/api/auth/tokens", json={"name": "x"}, headers=browser.headers(**headers)
    )
    assert assert_envelope(r, 403, "forbidden")["details"]["reason"] == "cross_origin"
    assert browser.client.get("/api/auth/tokens").json() == []


def test_the_apps_own_requests_pass(browser: Browser, tone: Path) -> None:
    same = {"Origin": "http://testserver", "Referer": "http://testserver/app"}
    r = browser.client.post(
        "/api/auth/tokens", json={"name": "mine"}, headers=browser.headers(**same)
    )
    assert r.status_code == 201, r.text
    assert browser.upload(tone).status_code == 201
    assert browser.client.post("/api/auth/logout", headers=browser.headers()).status_code == 204
    assert_envelope(browser.client.get("/api/web/jobs"), 401, "unauthorized")


def test_the_token_is_bound_to_the_session(client: TestClient) -> None:
    first = sign_up(client)
    old = first.csrf
    relogin = client.post("/api/auth/login", json={"email": first.email, "password": PASSWORD})
    assert relogin.status_code == 200
    new = csrf_of(client.get("/app").text)
    assert new != old
    r = client.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": old})
    assert_envelope(r, 403, "forbidden")
    other = sign_up(client)  # another user's token is no good either
    r = client.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": new})
    assert_envelope(r, 403, "forbidden")
    assert (
        client.post("/api/auth/tokens", json={"name": "x"}, headers=other.headers()).status_code
        == 201
    )


def test_bearer_callers_need_no_csrf_token(client: TestClient) -> None:
    account = make_account(client)
    # A script with the session JWT: no cookie, no CSRF token, any Origin header.
    r = client.post(
        "/api/auth/tokens", json={"name": "script"}, headers={**account.web, "Origin": EVIL}
    )
    assert r.status_code == 201, r.text


def test_login_and_sign_up_from_another_site_are_refused(client: TestClient) -> None:
    account = make_account(client)
    body = {"email": account.email, "password": PASSWORD}
    for path, payload in (
        ("/api/auth/login", body),
        ("/api/auth/register", {"email": "new@example.com", "password": PASSWORD}),
    ):
        r = client.post(path, json=payload, headers={"Origin": EVIL})
        assert assert_envelope(r, 403, "forbidden")["details"]["reason"] == "cross_origin"
        assert "set-cookie" not in r.headers
    ok = client.post("/api/auth/login", json=body, headers={"Origin": "http://testserver"})
    assert ok.status_code == 200
