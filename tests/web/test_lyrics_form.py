"""The app's "I have the lyrics" field: offered on the upload form, sent with the cookie
session like the other options, refused in the API's envelope when unusable."""

from __future__ import annotations

from pathlib import Path

from support import assert_envelope
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job
from web.conftest import Browser


def test_the_upload_form_offers_a_lyrics_box(browser: Browser) -> None:
    page = browser.client.get("/app").text
    assert 'id="has_lyrics"' in page and "I have the lyrics" in page
    assert '<textarea id="lyrics" name="lyrics"' in page and 'maxlength="20000"' in page
    assert 'id="lyrics-field" hidden' in page  # shown once the box is ticked


def test_lyrics_sent_from_the_app_are_kept(
    browser: Browser, tone: Path, database: Database
) -> None:
    r = browser.upload(tone, lyrics="la la la\r\nlo lo")
    assert r.status_code == 201, r.text
    assert r.json()["lyrics_anchored"] is None
    with database.session() as s:
        job = s.get(Job, r.json()["job_id"])
        assert job is not None and job.lyrics == "la la la\nlo lo"


def test_blank_lyrics_from_the_app_are_refused(browser: Browser, tone: Path) -> None:
    err = assert_envelope(browser.upload(tone, lyrics="  \r\n "), 400, "validation_error")
    assert err["details"]["fields"] == {"lyrics": "must not be empty"}
