"""Editing a transcript: PATCH .../segments validation, revisions, exports and undo."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import assert_envelope, bearer, make_account, make_token
from textfromtrack.credits import service as credits
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job
from web.conftest import Browser

API = "/api/v1/transcriptions"


@pytest.fixture
def done_job(client: TestClient, tone: Path, run_job: Any) -> tuple[str, str]:
    """(job id, token) of a finished 3 s job with two lines, owned by a token's account."""
    account = make_account(client)
    token = make_token(client, account)["token"]
    with tone.open("rb") as fh:
        r = client.post(API, files={"file": ("tone.flac", fh)}, headers=bearer(token))
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    run_job(job_id)
    return job_id, token


def _segments(client: TestClient, job_id: str, token: str) -> list[dict[str, Any]]:
    r = client.get(f"{API}/{job_id}/segments", headers=bearer(token))
    assert r.status_code == 200, r.text
    segments: list[dict[str, Any]] = r.json()["segments"]
    return segments


GOOD = [{"start": 0.0, "end": 1.0, "text": "one"}, {"start": 1.0, "end": 2.5, "text": "two"}]


@pytest.mark.parametrize(
    ("segments", "field"),
    [
        ([], "segments"),
        ([{"start": 1.0, "end": 0.5, "text": "backwards"}], "segments.0.end"),
        ([{"start": 0.5, "end": 0.5, "text": "empty span"}], "segments.0.end"),
        ([{"start": -1, "end": 0.5, "text": "before zero"}], "segments.0.start"),
        ([{"start": 0, "end": 9.0, "text": "past the end"}], "segments.0.end"),
        ([{"start": 0, "end": 1, "text": "   "}], "segments.0.text"),
        ([{"start": 0, "end": 1, "text": "x" * 2001}], "segments.0.text"),
        ([{"start": 0, "end": 1}], "segments.0.text"),
        ([{"start": "soon", "end": 1, "text": "a"}], "segments.0.start"),
        # Overlapping, and out of order.
        (
            [{"start": 0, "end": 1.5, "text": "a"}, {"start": 1.0, "end": 2, "text": "b"}],
            "segments.1.start",
        ),
        (
            [{"start": 1.5, "end": 2, "text": "a"}, {"start": 0.0, "end": 1, "text": "b"}],
            "segments.1.start",
        ),
    ],
)
def test_invalid_edits_are_400_naming_the_field(
    client: TestClient, done_job: tuple[str, str], segments: list[Any], field: str
) -> None:
    job_id, token = done_job
    before = _segments(client, job_id, token)
    r = client.patch(f"{API}/{job_id}/segments", json={"segments": segments}, headers=bearer(token))
    body = assert_envelope(r, 400, "validation_error")
    assert field in body["details"]["fields"], body
    assert _segments(client, job_id, token) == before


def test_an_edit_is_a_revision_that_every_export_follows_and_undo_restores(
    client: TestClient, done_job: tuple[str, str], database: Database
) -> None:
    job_id, token = done_job
    original = _segments(client, job_id, token)
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        user_id, balance = job.user_id, credits.balance(s, job.user_id)
    # Sent back as read, with index ignored: one line's text changed, touching lines allowed.
    edited = [dict(seg) for seg in original]
    edited[0]["text"] = "and so my fellow Earthlings"
    r = client.patch(f"{API}/{job_id}/segments", json={"segments": edited}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1
    assert r.json()["segments"][0]["text"] == "and so my fellow Earthlings"
    for fmt in ("txt", "srt", "lrc", "vtt", "json"):
        out = client.get(f"{API}/{job_id}/export", params={"format": fmt}, headers=bearer(token))
        assert "Earthlings" in out.text, fmt
        assert "Americans" not in out.text, fmt
    # The changed line has no word timings any more; the untouched one keeps them.
    words = client.get(
        f"{API}/{job_id}/export", params={"format": "lrc", "words": "true"}, headers=bearer(token)
    ).text
    assert "<" in words.splitlines()[-2] or "<" in words
    assert "Earthlings" in words and "<00:" in words
    poll = client.get(f"{API}/{job_id}", headers=bearer(token)).json()
    assert poll["revision"] == 1 and poll["segment_count"] == len(edited)
    # A second revision: the second line split in two at a word, then undo.
    second = edited[1]
    middle = round((second["start"] + second["end"]) / 2, 3)
    split = [
        edited[0],
        {"start": second["start"], "end": middle, "text": "ask not what your"},
        {"start": middle, "end": second["end"], "text": "country can do for you"},
    ]
    r = client.patch(f"{API}/{job_id}/segments", json={"segments": split}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["revision"] == 2
    assert len(r.json()["segments"]) == 3
    r = client.delete(f"{API}/{job_id}/segments/edits", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 0
    assert _segments(client, job_id, token) == original
    assert "Americans" in client.get(f"{API}/{job_id}/export", headers=bearer(token)).text
    # Editing is free.
    with database.session() as s:
        assert credits.balance(s, user_id) == balance


def test_split_at_a_word_boundary_keeps_word_timings(
    browser: Browser, tone: Path, run_job: Any
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    run_job(job_id)
    url = f"/api/web/jobs/{job_id}/segments"
    lines = browser.client.get(url).json()["segments"]
    # Line 0 is "and so my fellow Americans ask not what": split after "Americans".
    cut = lines[0]["words"][5]["start"]
    split = [
        {"start": lines[0]["start"], "end": cut, "text": "and so my fellow Americans"},
        {"start": cut, "end": lines[0]["end"], "text": "ask not what"},
        lines[1],
    ]
    r = browser.client.patch(url, json={"segments": split}, headers=browser.headers())
    assert r.status_code == 200, r.text
    shown = r.json()["segments"]
    assert [w["text"].strip() for w in shown[1]["words"]] == ["ask", "not", "what"]
    assert [p["text"] for p in shown[1]["pieces"] if p["start"] is not None] == [
        "ask",
        "not",
        "what",
    ]
    assert len(shown[0]["words"]) == 5 and len(shown[2]["words"]) == 6
    # The web PATCH needs the CSRF token, like every change.
    refused = browser.client.patch(url, json={"segments": split})
    assert refused.status_code == 403


def test_409_before_done_410_after_retention_404_for_others_403_without_write(
    client: TestClient, done_job: tuple[str, str], tone: Path, database: Database
) -> None:
    job_id, token = done_job
    body = {"segments": GOOD}
    account = make_account(client)
    mine = make_token(client, account)["token"]
    with tone.open("rb") as fh:
        pending = client.post(API, files={"file": ("t.flac", fh)}, headers=bearer(mine)).json()
    r = client.patch(f"{API}/{pending['job_id']}/segments", json=body, headers=bearer(mine))
    assert_envelope(r, 409, "validation_error")
    # Someone else's job is a 404, as if it did not exist.
    assert_envelope(
        client.patch(f"{API}/{job_id}/segments", json=body, headers=bearer(mine)), 404, "not_found"
    )
    reader = make_token(client, account, scopes=["transcriptions:read"])["token"]
    assert_envelope(
        client.patch(f"{API}/{pending['job_id']}/segments", json=body, headers=bearer(reader)),
        403,
        "forbidden",
    )
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.purged_at = datetime.now(UTC)
    assert_envelope(
        client.patch(f"{API}/{job_id}/segments", json=body, headers=bearer(token)), 410, "gone"
    )
    assert_envelope(
        client.delete(f"{API}/{job_id}/segments/edits", headers=bearer(token)), 410, "gone"
    )
