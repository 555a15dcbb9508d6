"""The web app in a real browser: Debian's Chromium driven by Playwright, against `tft serve`.

One server and one browser for the module; the tests run in order as one person's
visit (sign up, upload, read, download, tokens, log out), then the attacks. Screenshots
of the main pages land in tests/artifacts/screenshots (or $TFT_TEST_ARTIFACTS).
"""

from __future__ import annotations

import http.server
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from audio import TESTDATA
from live import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
JFK = TESTDATA / "en" / "jfk_whisper.flac"
PASSWORD = "correct horse battery staple"
ARTIFACTS = Path(
    os.environ.get("TFT_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")
)
SHOTS = ARTIFACTS / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]
# Only the steps that upload need the shared clip; the rest of the visit runs without it.
needs_jfk = pytest.mark.skipif(not JFK.is_file(), reason=f"shared test clip not found at {JFK}")

sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("web"), model_cache) as s:
        yield s


@pytest.fixture(scope="module")
def page(server: LiveServer) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        context = browser.new_context(base_url=server.url, accept_downloads=True)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        # Any script run from user content would most likely try a dialog: fail loudly.
        pg.on("dialog", lambda d: d.accept() if d.type == "confirm" else pytest.fail(d.message))
        yield pg
        context.close()
        browser.close()


class Visit:
    email = f"web-{os.getpid()}@example.com"
    job_url = ""
    token = ""


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_landing_and_sign_up(page: Page, server: LiveServer) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("timed text")
    shot(page, "01-landing")
    page.get_by_role("link", name="Sign up free").click()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    # Errors in plain words, next to their fields, before anything is sent.
    expect(page.locator("#email-error")).to_contain_text("email address")
    page.get_by_label("Email").fill(Visit.email)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#password-error")).to_contain_text("at least")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r":\d+/app$"))
    expect(page.get_by_role("heading", name="Transcribe audio")).to_be_visible()


def test_log_out_then_log_in_comes_back(page: Page) -> None:
    page.locator(".menu summary").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/app/account")
    page.wait_for_url(re.compile(r"/login\?next=/app/account"))
    page.get_by_label("Email").fill(Visit.email)
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#form-error")).to_contain_text("Incorrect email or password")
    shot(page, "02-login-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r":\d+/app/account$"))
    page.goto("/app")


@needs_jfk
def test_upload_and_watch_it_finish(page: Page) -> None:
    page.locator("#file").set_input_files(str(JFK))
    expect(page.locator("#picked")).to_contain_text("jfk_whisper.flac")
    page.get_by_label("Language").select_option("en")
    page.get_by_role("button", name="Transcribe").click()
    item = page.locator("#jobs li").filter(has_text="jfk_whisper.flac").first
    expect(item).to_be_visible()
    # Live updates without reload: the status changes from waiting to done by polling.
    expect(item.locator(".status")).to_have_text("Done", timeout=180_000)
    shot(page, "03-app-with-done-job")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "04-app-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    item.get_by_role("link").click()
    page.wait_for_url("**/app/jobs/*")
    Visit.job_url = page.url


@needs_jfk
def test_transcript_page_lines_player_and_download(page: Page, tmp_path: Path) -> None:
    lines = page.locator("#lines li")
    expect(lines.first).to_be_visible()
    expect(page.locator("#lines")).to_contain_text("ask not what your country can do for you")
    expect(page.locator("#fact-language")).to_have_text("en")
    expect(page.locator("#fact-model")).to_contain_text("whisper")
    expect(page.locator("#fact-attempts")).to_have_text("1")
    # The audio was kept (the default), so the player streams it and lines seek it.
    player = page.locator("#player")
    expect(player).to_be_visible()
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    second = lines.nth(1)
    start = float(second.get_attribute("data-start") or "0")
    second.click()
    page.wait_for_function(
        f"Math.abs(document.getElementById('player').currentTime - {start}) < 1.5"
    )
    expect(second).to_have_class(re.compile("active"))
    page.evaluate("document.getElementById('player').pause()")
    shot(page, "05-transcript")
    with page.expect_download() as info:
        page.get_by_role("link", name="LRC").click()
    target = tmp_path / "jfk.lrc"
    info.value.save_as(target)
    lrc = target.read_text(encoding="utf-8")
    assert info.value.suggested_filename == "jfk_whisper.lrc"
    assert re.search(r"^\[00:\d\d\.\d\d\]", lrc, re.M), lrc
    assert "country" in lrc


def test_generate_a_token_once_use_it_and_revoke_it(page: Page, server: LiveServer) -> None:
    page.goto("/app/account")
    expect(page.locator("#account-email")).to_have_text(Visit.email)
    # 10 at sign-up, less the one job uploaded above.
    expect(page.locator("#credit-balance")).to_have_text("9" if JFK.is_file() else "10")
    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Generate").click()
    value = page.locator("#new-token-value")
    expect(value).to_have_value(re.compile(r"^tft_pat_[0-9A-Za-z]{43}$"))
    token = value.input_value()
    expect(page.get_by_role("alert").filter(has_text="shown only once")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-state")).not_to_be_empty()
    shot(page, "06-account-new-token")
    row = page.locator("#token-rows tr").filter(has_text="browser test")
    expect(row).to_contain_text(f"…{token[-4:]}")
    # Exactly once: a fresh load of the page never shows it again.
    page.reload()
    expect(page.locator("#token-rows tr").filter(has_text="browser test")).to_be_visible()
    assert token not in page.content()
    assert page.locator("#new-token").is_hidden()
    # The token works for the API over plain HTTP...
    headers = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{server.api}/me", headers=headers)
    assert me.status_code == 200 and me.json()["email"] == Visit.email
    # ...until it is revoked in the app.
    page.locator("#token-rows tr").filter(has_text="browser test").get_by_role(
        "button", name=re.compile("Revoke")
    ).click()
    expect(page.locator("#token-rows tr").filter(has_text="browser test")).to_contain_text(
        "revoked"
    )
    refused = httpx.get(f"{server.api}/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    Visit.token = token


@needs_jfk
def test_retry_in_music_mode_from_the_kept_audio_then_cancel(page: Page) -> None:
    page.goto(Visit.job_url)
    page.get_by_role("button", name="Retry in music mode").click()
    page.wait_for_url(lambda url: "/app/jobs/" in url and url != Visit.job_url)
    expect(page.locator("h1.filename")).to_have_text("jfk_whisper.flac")
    expect(page.locator("#job-status")).to_contain_text(re.compile("pending|processing|done"))
    # Music mode costs a credit like any job; cancel it to spare the CPU (confirm accepted).
    page.get_by_role("button", name=re.compile("Cancel|Delete transcript")).click()
    expect(page.locator("#job-status")).to_have_text("cancelled")


def test_developer_page_shows_this_instance(page: Page, server: LiveServer) -> None:
    page.goto("/developers")
    expect(page.locator("#base-url")).to_have_text(f"{server.url}/api/v1")
    assert "app.textfromtrack.com/api" not in page.content()
    expect(page.get_by_role("link", name="Swagger UI ↗")).to_have_attribute("href", "/docs")
    shot(page, "07-developers")


def test_swagger_ui_renders_without_a_network(page: Page) -> None:
    # CI's machine reaches no CDN: this renders only from the instance's own files.
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("TextFromTrack API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/me").first).to_be_visible()
    shot(page, "08-swagger-ui")


def _db(server: LiveServer) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "tft.db")


@needs_jfk
def test_markup_in_a_filename_and_a_transcript_line_stays_text(
    page: Page, server: LiveServer
) -> None:
    # No quotes: browsers percent-encode them in multipart file names.
    # No double quote or slash: browsers send '"' as %22 in a multipart filename, and the
    # service keeps only the last part of a path-like name.
    payload = "<img src=x onerror=window.__xss=1>"
    page.goto("/app")
    page.locator("#file").set_input_files(
        {"name": f"{payload}.flac", "mimeType": "audio/flac", "buffer": JFK.read_bytes()}
    )
    page.get_by_role("button", name="Transcribe").click()
    item = page.locator("#jobs li").filter(has_text=payload).first
    expect(item.locator(".status")).to_have_text("Done", timeout=180_000)
    job_id = item.get_attribute("data-job-id")
    assert job_id
    # A transcript line carrying markup, as a song's lyrics could.
    with _db(server) as conn:
        conn.execute(
            "UPDATE job_segments SET text = ?, words = '[]' WHERE job_id = ? AND idx = 0",
            (f"<script>window.__xss=2</script>{payload}", job_id),
        )
    page.goto(f"/app/jobs/{job_id}")
    expect(page.locator("h1.filename")).to_have_text(f"{payload}.flac")
    expect(page.locator("#lines li").first).to_contain_text("<script>window.__xss=2</script>")
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("#lines script").count() == 0
    page.goto("/app")
    expect(page.locator("#jobs li").filter(has_text=payload).first).to_be_visible()
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0


class _Attacker(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        # A classic forged form: text/plain so the body looks like JSON, posted with the
        # victim's cookie (127.0.0.1 on another port is the same site, so Lax sends it).
        body = (
            "<!doctype html><form id=f method=POST enctype=text/plain "
            f'action="{self.target}/api/auth/tokens">'
            '<input name=\'{"name":"stolen","x":"\' value=\'"}\'></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_cross_site_post_is_refused(page: Page, server: LiveServer) -> None:
    _Attacker.target = server.url
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    thread = threading.Thread(target=attacker.serve_forever, daemon=True)
    thread.start()
    try:
        with page.expect_response(re.compile(r"/api/auth/tokens$")) as info:
            page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        response = info.value
        assert response.status == 403
        assert response.json()["error"]["code"] == "forbidden"
    finally:
        attacker.shutdown()
    page.goto("/app/account")
    expect(page.locator("#token-rows tr").first).to_be_visible()
    assert page.locator("#token-rows tr").filter(has_text="stolen").count() == 0


def test_log_out_ends_the_session(page: Page) -> None:
    page.goto("/app")
    page.locator(".menu summary").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/app")
    page.wait_for_url(re.compile(r"/login\?next=/app$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
