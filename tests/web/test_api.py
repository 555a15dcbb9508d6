"""/api/web/*: the app's JSON endpoints call the same services, limits and pipeline as /api/v1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from support import assert_envelope, bearer, make_account, make_token
from textfromtrack.credits import service as credits
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job
from web.conftest import Browser, sign_up

JOBS = "/api/web/jobs"


def balance(db: Database, user_id: str) -> int:
    with db.session() as s:
        return credits.balance(s, user_id)


def user_id_of(db: Database, job_id: str) -> str:
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.user_id


def test_upload_with_options_debits_one_credit_and_lists_the_job(
    browser: Browser, tone: Path, database: Database
) -> None:
    r = browser.upload(tone, vintage="true", language="EN", keep_audio="true")
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "pending" and job["filename"] == "tone.flac"
    assert job["vintage_mode"] is True and job["pinyin"] is False
    assert job["language_requested"] == "en" and job["keep_audio"] is True
    assert job["audio_available"] is False and job["credits_charged"] == 1
    assert balance(database, user_id_of(database, job["job_id"])) == 9

    listing = browser.client.get(JOBS).json()
    assert listing["total"] == 1 and listing["active"] == 1 and listing["page"] == 1
    assert [j["job_id"] for j in listing["jobs"]] == [job["job_id"]]
    one = browser.client.get(f"{JOBS}/{job['job_id']}").json()
    assert one["job_id"] == job["job_id"] and one["attempts_log"] == []


def test_listing_filters_and_pages(browser: Browser, tone: Path) -> None:
    first = browser.upload(tone, name="a.flac").json()["job_id"]
    second = browser.upload(tone, name="b.flac").json()["job_id"]
    r = browser.client.delete(f"{JOBS}/{first}", headers=browser.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"

    page1 = browser.client.get(JOBS, params={"per_page": 1}).json()
    page2 = browser.client.get(JOBS, params={"per_page": 1, "page": 2}).json()
    assert page1["total"] == page2["total"] == 2
    assert [page1["jobs"][0]["job_id"], page2["jobs"][0]["job_id"]] == [second, first]
    pending = browser.client.get(JOBS, params={"status": "pending"}).json()
    assert [j["job_id"] for j in pending["jobs"]] == [second]
    assert pending["active"] == 1
    assert_envelope(browser.client.get(JOBS, params={"status": "bogus"}), 400, "validation_error")


def test_refusals_use_the_api_envelope(browser: Browser, tone: Path, tmp_path: Path) -> None:
    both = browser.upload(tone, vintage="true", pinyin="true")
    assert set(assert_envelope(both, 400, "validation_error")["details"]["fields"]) == {
        "pinyin",
        "vintage",
    }
    assert_envelope(browser.upload(tone, language="xx"), 400, "validation_error")
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    assert_envelope(browser.upload(text), 400, "validation_error")
    missing = browser.client.post(JOBS, headers=browser.headers())
    assert_envelope(missing, 400, "validation_error")


def test_third_active_job_is_429_with_retry_after(browser: Browser, tone: Path) -> None:
    for _ in range(2):
        assert browser.upload(tone).status_code == 201
    r = browser.upload(tone)
    assert_envelope(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


def test_no_credits_is_402_with_the_top_up_link(
    browser: Browser, tone: Path, database: Database, run_job: Any
) -> None:
    # Spend all ten credits through finished jobs (two may be active at a time).
    for _ in range(10):
        job_id = browser.upload(tone).json()["job_id"]
        run_job(job_id)
    error = assert_envelope(browser.upload(tone), 402, "insufficient_credits")
    assert error["details"]["top_up_url"] == "https://example.com/top-up"
    assert error["details"]["available"] == 0
    account = browser.client.get("/api/web/account").json()
    assert account == {
        "email": browser.email,
        "credit_balance": 0,
        "top_up_url": "https://example.com/top-up",
    }


def test_a_finished_job_has_segments_words_and_exports(
    browser: Browser, tone: Path, run_job: Any
) -> None:
    job_id = browser.upload(tone, name="speech.flac").json()["job_id"]
    assert_envelope(browser.client.get(f"{JOBS}/{job_id}/segments"), 409, "validation_error")
    assert run_job(job_id) == "done"
    job = browser.client.get(f"{JOBS}/{job_id}").json()
    assert job["status"] == "done" and job["model"] == "fake-standard"
    assert job["attempts"] == 1 and job["vocal_separation_used"] is False
    segments = browser.client.get(f"{JOBS}/{job_id}/segments").json()["segments"]
    assert segments[0]["text"].startswith("and so my fellow")
    first_word = segments[0]["words"][0]
    assert set(first_word) == {"start", "end", "text"} and first_word["text"].strip() == "and"
    lrc = browser.client.get(f"{JOBS}/{job_id}/export", params={"format": "lrc"})
    assert lrc.status_code == 200 and lrc.text.startswith("[")
    assert 'filename="speech.lrc"' in lrc.headers["content-disposition"]
    assert_envelope(
        browser.client.get(f"{JOBS}/{job_id}/export", params={"format": "doc"}),
        400,
        "validation_error",
    )


def test_app_submissions_get_the_automatic_vintage_retry(
    browser: Browser, tone: Path, run_job: Any
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    assert run_job(job_id, poor=True) == "done"
    job = browser.client.get(f"{JOBS}/{job_id}").json()
    assert job["attempts"] == 2 and job["vocal_separation_used"] is True
    assert job["vintage_mode"] is False and job["model"] == "fake-vintage"
    first, second = job["attempts_log"]
    assert first["verdict"] == "rejected" and "repetition_loop" in first["quality"]["reasons"]
    assert second["pipeline"] == "vintage" and second["separator"] == "fake-separator"
    assert job["credits_charged"] == 1


def test_web_endpoints_take_the_web_session_only(
    client: TestClient, tone: Path, database: Database
) -> None:
    account = make_account(client)
    token = make_token(client, account)["token"]
    # A personal access token is no web session...
    assert_envelope(client.get(JOBS, headers=bearer(token)), 401, "unauthorized")
    # ...while the session's JWT as a Bearer header is, and needs no CSRF token.
    assert client.get(JOBS, headers=account.web).status_code == 200
    with tone.open("rb") as fh:
        r = client.post(JOBS, files={"file": ("t.flac", fh)}, headers=account.web)
    assert r.status_code == 201, r.text
    assert_envelope(client.get(JOBS), 401, "unauthorized")


def test_another_users_job_is_404(client: TestClient, tone: Path, run_job: Any) -> None:
    owner = sign_up(client)
    job_id = owner.upload(tone).json()["job_id"]
    run_job(job_id)
    other = sign_up(client)
    for path in ("", "/segments", "/export?format=txt", "/audio"):
        assert_envelope(other.client.get(f"{JOBS}/{job_id}{path}"), 404, "not_found")
    assert_envelope(
        other.client.delete(f"{JOBS}/{job_id}", headers=other.headers()), 404, "not_found"
    )
    assert_envelope(
        other.client.post(f"{JOBS}/{job_id}/retry-music", headers=other.headers()),
        404,
        "not_found",
    )


def test_an_app_job_is_the_same_job_the_api_sees(browser: Browser, tone: Path) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    created = browser.client.post(
        "/api/auth/tokens", json={"name": "script"}, headers=browser.headers()
    )
    assert created.status_code == 201, created.text
    browser.client.cookies.clear()
    listed = browser.client.get(
        "/api/v1/transcriptions", headers=bearer(created.json()["token"])
    ).json()
    assert [j["job_id"] for j in listed["transcriptions"]] == [job_id]
