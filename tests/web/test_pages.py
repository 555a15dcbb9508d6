"""The server-rendered pages: who may see them, where anonymous visits go, what they show."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from support import assert_envelope
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.exports.formats import FORMATS
from textfromtrack.main import create_app
from textfromtrack.web.router import safe_next
from web.conftest import Browser, sign_up

# No double quotes (browsers and httpx send them as %22 in a multipart filename) and no
# slash (the service keeps only the last part of a path-like name).
MARKUP = "<img src=x onerror=alert(1)><svg onload=alert(2)>"


def test_landing_invites_to_sign_up(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'href="/signup"' in r.text and 'href="/login"' in r.text
    assert "10 credits" in r.text


def test_landing_for_a_signed_in_user_opens_the_app(browser: Browser) -> None:
    assert 'href="/app">Open the app' in browser.client.get("/").text


@pytest.mark.parametrize(
    ("path", "next_"),
    [
        ("/app", "/app"),
        ("/app/account", "/app/account"),
        ("/app/jobs/abc", "/app/jobs/abc"),
        ("/app?status=done", "/app%3Fstatus%3Ddone"),
    ],
)
def test_anonymous_visits_go_to_login_and_come_back(
    client: TestClient, path: str, next_: str
) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={next_}"
    page = client.get(r.headers["location"]).text
    assert f'data-next="{html.escape(path)}"' in page


def test_signed_in_users_skip_the_login_page(browser: Browser) -> None:
    r = browser.client.get("/login?next=/app/account", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app/account")
    r = browser.client.get("/signup", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/app")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/app"),
        ("", "/app"),
        ("/app/account", "/app/account"),
        ("/app?status=done", "/app?status=done"),
        ("//evil.example/x", "/app"),
        ("/\\evil.example", "/app"),
        ("https://evil.example", "/app"),
        ("javascript:alert(1)", "/app"),
        ("/app\r\nSet-Cookie: x=1", "/app"),
        ("app", "/app"),
    ],
)
def test_safe_next_stays_on_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_login_page_ignores_a_foreign_next(client: TestClient) -> None:
    page = client.get("/login", params={"next": "https://evil.example/"}).text
    assert 'data-next="/app"' in page


def test_forms_have_labels_for_every_field(client: TestClient, browser: Browser) -> None:
    for path in ("/app", "/app/account"):
        page = browser.client.get(path).text
        ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', page)
        assert ids, path
        for field in ids:
            assert f'for="{field}"' in page, (path, field)
    browser.client.cookies.clear()
    signup = client.get("/signup").text
    assert 'for="email"' in signup and 'for="password"' in signup
    assert 'autocomplete="new-password"' in signup


def test_app_page_offers_options_languages_and_filters(browser: Browser) -> None:
    page = browser.client.get("/app").text
    for field in ('id="vintage"', 'id="pinyin"', 'id="keep_audio"', 'id="language"'):
        assert field in page
    assert '<option value="en">English (en)</option>' in page
    assert 'id="status-filter"' in page and 'id="next-page"' in page
    assert 'accept=".mp3,.wav,.flac' in page


def test_account_page_shows_email_balance_and_top_up(browser: Browser) -> None:
    page = browser.client.get("/app/account").text
    assert f'<dd id="account-email">{browser.email}</dd>' in page
    assert '<dd id="credit-balance">10</dd>' in page
    assert 'href="https://example.com/top-up"' in page
    assert 'id="token-form"' in page and "shown only once" in page


def test_transcript_page_shows_facts_downloads_and_actions(
    browser: Browser, tone: Path, run_job: Any
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    pending = browser.client.get(f"/app/jobs/{job_id}").text
    assert 'data-status="pending"' in pending and 'id="downloads" hidden' in pending
    run_job(job_id, poor=True)
    page = browser.client.get(f"/app/jobs/{job_id}").text
    assert '<dd id="fact-language">en</dd>' in page
    assert '<dd id="fact-model">fake-vintage</dd>' in page
    assert '<dd id="fact-attempts">2</dd>' in page
    assert '<dd id="fact-separation">used</dd>' in page
    assert re.search(r'<dd id="fact-runtime">\d+\.\d s</dd>', page)
    for fmt in FORMATS:
        assert f'href="/api/web/jobs/{job_id}/export?format={fmt}"' in page
    assert 'id="retry-music"' in page and 'id="retry-hint"' in page


def test_another_users_job_page_is_a_friendly_404(
    client: TestClient, tone: Path, run_job: Any
) -> None:
    owner = sign_up(client)
    job_id = owner.upload(tone).json()["job_id"]
    sign_up(client)
    r = client.get(f"/app/jobs/{job_id}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Transcription not found" in r.text and "tone.flac" not in r.text
    assert client.get("/app/jobs/not-a-job").status_code == 404


def test_unknown_pages_are_html_for_people_and_envelopes_for_programs(
    client: TestClient,
) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html,*/*"})
    assert page.status_code == 404 and "Page not found" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert_envelope(
        client.get("/no/such/page", headers={"Accept": "application/json"}), 404, "not_found"
    )
    assert_envelope(
        client.get("/api/web/nothing", headers={"Accept": "text/html"}), 404, "not_found"
    )


def test_error_pages_keep_the_signed_in_menu(browser: Browser) -> None:
    page = browser.client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Page not found" in page.text
    # The visitor is still signed in: the account menu and a working Log out (which
    # needs the page's CSRF token), not an invitation to log in.
    assert f"Account menu for {browser.email}" in page.text
    assert 'data-action="logout"' in page.text and 'name="csrf-token"' in page.text
    assert 'href="/login"' not in page.text


def test_error_pages_for_a_stale_session_are_signed_out(browser: Browser) -> None:
    stale = browser.client.cookies.get("tft_session")
    assert browser.client.post("/api/auth/logout", headers=browser.headers()).status_code == 204
    # A browser may still send the old cookie; it names no live session any more.
    browser.client.cookies.set("tft_session", stale or "")
    page = browser.client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and 'href="/login"' in page.text
    assert "Account menu" not in page.text and 'name="csrf-token"' not in page.text


def test_filenames_and_lines_with_markup_are_escaped(
    browser: Browser, tone: Path, run_job: Any, database: Database
) -> None:
    name = f"{MARKUP}.flac"
    job_id = browser.upload(tone, name=name).json()["job_id"]
    run_job(job_id)
    page = browser.client.get(f"/app/jobs/{job_id}").text
    assert MARKUP not in page
    escaped = str(escape(name))
    assert f'<h1 class="filename">{escaped}</h1>' in page
    assert f"<title>{escaped} · TextFromTrack</title>" in page
    # The JSON the scripts read carries it as data; they insert it with textContent.
    assert browser.client.get("/api/web/jobs").json()["jobs"][0]["filename"] == name


@pytest.mark.parametrize("configured", [True, False])
def test_developer_page_uses_this_instances_address(
    settings: Settings, database: Database, configured: bool
) -> None:
    if configured:
        settings = settings.model_copy(update={"public_base_url": "https://tft.example.org/"})
    with TestClient(create_app(settings, database), base_url="http://box.local:8123") as c:
        page = c.get("/developers").text
    base = "https://tft.example.org" if configured else "http://box.local:8123"
    assert f'<code id="base-url">{base}/api/v1</code>' in page
    assert page.count(f"{base}/api/v1") >= 4  # the curl, Python, JavaScript and shell examples
    assert "app.textfromtrack.com" not in page
    assert 'href="/docs"' in page and "Back to app" in page
    for section in ("Start in 2 minutes", "Authentication", "API Reference", "Error catalogue"):
        assert section in page
    for code in ("insufficient_credits", "track_too_long", "rate_limited", "gone"):
        assert f"<code>{code}</code>" in page
