"""Known lyrics in a real browser: tick "I have the lyrics", paste them, upload a song in
music mode, and read the transcript page: the user's own lines, each word timed.

Debian's Chromium driven by Playwright against `tft serve` (the real Whisper base and
Spleeter), on the shared song excerpt; skipped without Chromium or ../shared/testdata.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio import TESTDATA
from live import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
EXCERPT = TESTDATA / "music" / "jamendo_es_Fantasma_Los_Rombos.excerpt_17-51s.mp3"
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.skipif(not EXCERPT.is_file(), reason="../shared/testdata is absent"),
]

sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[LiveServer]:
    env = {"TFT_SEPARATOR": "spleeter"}
    with live_server(tmp_path_factory.mktemp("web-lyrics"), model_cache, env) as s:
        yield s


@pytest.fixture(scope="module")
def page(server: LiveServer) -> Iterator[Page]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        context = browser.new_context(base_url=server.url)
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        yield pg
        context.close()
        browser.close()


def test_lyrics_from_the_form_become_the_transcript(page: Page) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(f"lyrics-{os.getpid()}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r":\d+/app$"))

    page.locator("#file").set_input_files(str(EXCERPT))
    page.get_by_label("Music mode").check()
    expect(page.get_by_label("Lyrics", exact=True)).to_be_hidden()
    page.get_by_label("I have the lyrics").check()
    # Ticked but empty: said next to the box, nothing sent.
    page.get_by_role("button", name="Transcribe").click()
    expect(page.locator("#lyrics-error")).to_contain_text("Paste the lyrics")
    expect(page.locator("#jobs li")).to_have_count(0)

    lyrics = EXCERPT.with_suffix(".txt").read_text(encoding="utf-8")
    page.get_by_label("Lyrics", exact=True).fill(lyrics)
    page.get_by_role("button", name="Transcribe").click()
    item = page.locator("#jobs li").filter(has_text=EXCERPT.name).first
    expect(item.locator(".status")).to_have_text("Done", timeout=240_000)
    item.get_by_role("link").click()
    page.wait_for_url("**/app/jobs/*")

    lines = [line.strip() for line in lyrics.splitlines() if line.strip()]
    shown = page.locator("#lines li .text")
    expect(shown).to_have_count(len(lines))
    assert [t.strip() for t in shown.all_inner_texts()] == lines
    # Every word is a timed piece the player can highlight.
    expect(page.locator("#lines .word")).to_have_count(len(lyrics.split()))
