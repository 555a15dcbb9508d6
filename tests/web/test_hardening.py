"""Hostile and odd input over HTTP, as tables: paging, Range, filenames, login
normalisation, HEAD and 405, expiry decided at read time, and files left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from support import PASSWORD, assert_envelope, bearer, make_account, make_token
from textfromtrack.config import Settings
from textfromtrack.db import Database, utcnow
from textfromtrack.jobs import maintenance
from textfromtrack.jobs.models import Job
from textfromtrack.media import storage
from web.conftest import Browser

JOBS = "/api/web/jobs"
API_JOBS = "/api/v1/transcriptions"


@pytest.fixture
def token(client: TestClient) -> str:
    return str(make_token(client, make_account(client))["token"])


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("page=1", 200),
        ("page=999999", 200),  # past the end: an empty page
        ("page=1000000", 200),
        ("page=1000001", 400),
        ("page=9223372036854775807", 400),
        ("page=99999999999999999999999999", 400),
        ("page=0", 400),
        ("page=-1", 400),
        ("page=abc", 400),
        ("per_page=0", 400),
        ("per_page=201", 400),
        ("per_page=200&page=1000000", 200),
        ("status=cancelled", 200),
        ("status=bogus", 400),
    ],
)
def test_list_query_bounds(
    client: TestClient, token: str, browser: Browser, query: str, status: int
) -> None:
    for path, headers in ((API_JOBS, bearer(token)), (JOBS, {})):
        r = browser.client.get(f"{path}?{query}", headers=headers)
        if status == 200:
            assert r.status_code == 200, r.text
            body = r.json()
            assert body.get("transcriptions", body.get("jobs")) == []
        else:
            assert_envelope(r, 400, "validation_error")


@pytest.mark.parametrize("fmt", ["x" * 17, "", "../../etc/passwd", "txt\x00", "TXT%00", "pdf"])
def test_absurd_export_formats_are_400(client: TestClient, token: str, fmt: str) -> None:
    r = client.get(
        f"{API_JOBS}/00000000-0000-0000-0000-000000000000/export",
        params={"format": fmt},
        headers=bearer(token),
    )
    # An unknown id may answer 404 first; never a 5xx and never outside the envelope.
    assert r.status_code in (400, 404), r.text
    assert_envelope(r, r.status_code, "validation_error" if r.status_code == 400 else "not_found")


# ---------------------------------------------------------------- a done job's results


@pytest.fixture
def done_job(browser: Browser, tone: Path, run_job: Any) -> str:
    job_id = str(browser.upload(tone, keep_audio="true").json()["job_id"])
    assert run_job(job_id) == "done"
    return job_id


@pytest.mark.parametrize(
    ("range_header", "status"),
    [
        ("bytes=0-99", 206),
        ("bytes=-100", 206),
        ("bytes=100-", 206),
        ("bytes=0-0,5-9", 206),
        ("bytes=99999999-", 416),
        ("bytes=abc", 400),
        ("bytes=5-1", 400),
        ("items=0-1", 400),
        ("garbage", 400),
        ("bytes=", 400),
    ],
)
def test_range_requests_on_kept_audio(
    browser: Browser, done_job: str, range_header: str, status: int
) -> None:
    r = browser.client.get(f"{JOBS}/{done_job}/audio", headers={"Range": range_header})
    if status == 206:
        assert r.status_code == 206, r.text
        return
    error = assert_envelope(r, status, "validation_error")
    if status == 416:
        assert r.headers["content-range"].startswith("bytes */")
        assert error["details"]["size"] > 0


def test_head_is_answered_wherever_get_is(
    client: TestClient, browser: Browser, done_job: str
) -> None:
    for path in (f"{JOBS}/{done_job}/export?format=lrc", f"{JOBS}/{done_job}/audio", "/healthz"):
        got, head = browser.client.get(path), browser.client.head(path)
        assert got.status_code == head.status_code == 200, (path, head.text)
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers["content-type"] == got.headers["content-type"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", API_JOBS, {"GET", "HEAD", "POST"}),
        ("PATCH", f"{API_JOBS}/00000000-0000-0000-0000-000000000000", {"GET", "HEAD", "DELETE"}),
        ("POST", f"{API_JOBS}/00000000-0000-0000-0000-000000000000/export", {"GET", "HEAD"}),
        ("DELETE", "/api/v1/me", {"GET", "HEAD"}),
    ],
)
def test_405_names_every_allowed_method(
    client: TestClient, method: str, path: str, allowed: set[str]
) -> None:
    r = client.request(method, path)
    error = assert_envelope(r, 405, "validation_error")
    assert set(r.headers["allow"].split(", ")) == allowed
    assert method in error["message"]


def test_results_expire_when_read_not_when_swept(
    browser: Browser, done_job: str, database: Database
) -> None:
    assert browser.client.get(f"{JOBS}/{done_job}/export?format=txt").status_code == 200
    job = browser.client.get(f"{JOBS}/{done_job}").json()
    assert job["exports_expire_at"].endswith("Z")
    with database.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == done_job)
            .values(completed_at=utcnow() - timedelta(days=7, seconds=1))
        )
    # No sweep has run: the date alone decides.
    for path in ("export?format=srt", "segments", "audio"):
        error = assert_envelope(browser.client.get(f"{JOBS}/{done_job}/{path}"), 410, "gone")
        assert error["details"]["purged_at"].endswith("Z")


def test_an_export_is_rendered_from_segments_not_read_from_a_file(
    browser: Browser, done_job: str, settings: Settings
) -> None:
    folder = storage.exports_dir(settings.data_dir) / done_job
    assert sorted(p.name for p in folder.iterdir()) == ["source.flac"]  # only the kept audio
    for fmt in ("txt", "srt", "vtt", "lrc", "json"):
        r = browser.client.get(f"{JOBS}/{done_job}/export", params={"format": fmt})
        assert r.status_code == 200 and "fellow Americans" in r.text, fmt


# ---------------------------------------------------------------- filenames


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("song.flac", "song.flac"),
        ("evil\u202egpj.flac", "evilgpj.flac"),
        ("a\u2066b\u2069c.flac", "abc.flac"),
        ("\ufeffbom.flac", "bom.flac"),
        ("..\\..\\windows\\path.flac", "path.flac"),
        ("dir/sub/name.flac", "name.flac"),
        ("Cafe\u0301.flac", "Caf\u00e9.flac"),  # NFC
        ("歌词 mix.flac", "歌词 mix.flac"),
    ],
)
def test_filenames_lose_bidi_and_invisible_characters(
    browser: Browser, tone: Path, run_job: Any, sent: str, stored: str
) -> None:
    r = browser.upload(tone, name=sent)
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == stored
    run_job(r.json()["job_id"])
    disposition = browser.client.get(f"{JOBS}/{r.json()['job_id']}/export?format=srt").headers[
        "content-disposition"
    ]
    assert all(unicodedata.category(ch) != "Cc" for ch in disposition)
    assert "\u202e" not in disposition and "%E2%80%AE" not in disposition.upper()


def test_a_nul_in_a_filename_is_dropped(browser: Browser, tone: Path) -> None:
    r = browser.upload(tone, name="nul\x00byte.flac")
    # Either the multipart layer refuses the name, or the name arrives without the NUL.
    if r.status_code == 201:
        assert "\x00" not in r.json()["filename"]
    else:
        assert_envelope(r, 400, "validation_error")


# ---------------------------------------------------------------- login


VARIANTS = {
    "as registered": lambda e: e,
    "decomposed (NFD)": lambda e: unicodedata.normalize("NFD", e),
    "upper case, padded": lambda e: f"  {e.upper()} ",
    "upper case, decomposed": lambda e: unicodedata.normalize("NFD", e.upper()),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_login_normalises_the_email_like_sign_up(client: TestClient, variant: str) -> None:
    email = f"josé-{uuid.uuid4().hex[:6]}@example.com"
    r = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    typed = VARIANTS[variant](email)
    r = client.post("/api/auth/login", json={"email": typed, "password": PASSWORD})
    assert r.status_code == 200, (typed, r.text)


def _login(client: TestClient, email: str, password: str, address: str) -> Any:
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


@pytest.fixture
def proxied(settings: Settings, database: Database) -> TestClient:
    from textfromtrack.main import create_app

    # The test client's peer is "testclient"; trust it so X-Forwarded-For picks the address.
    app = create_app(settings.model_copy(update={"trusted_proxies": ["0.0.0.0/0"]}), database)
    return TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000))


def test_a_stranger_cannot_lock_a_user_out(proxied: TestClient) -> None:
    account = make_account(proxied)
    for _ in range(12):
        r = _login(proxied, account.email, "wrong password here", "203.0.113.66")
        assert r.status_code in (401, 429)
    assert _login(proxied, account.email, "wrong password here", "203.0.113.66").status_code == 429
    # The owner, from their own address, signs in at once.
    assert _login(proxied, account.email, PASSWORD, "198.51.100.7").status_code == 200


def test_failures_from_one_address_get_growing_delays(proxied: TestClient) -> None:
    account = make_account(proxied)
    waits = []
    for _ in range(5):
        assert (
            _login(proxied, account.email, "wrong password here", "203.0.113.9").status_code == 401
        )
    r = _login(proxied, account.email, PASSWORD, "203.0.113.9")
    assert_envelope(r, 429, "rate_limited")  # even the right password waits its turn
    waits.append(int(r.headers["retry-after"]))
    assert 1 <= waits[0] <= 5


def test_orphaned_uploads_are_removed_and_live_ones_kept(
    settings: Settings, database: Database
) -> None:
    folder = storage.uploads_dir(settings.data_dir)
    mine = storage.new_upload_path(settings.data_dir, ".mp3")
    mine.write_bytes(b"still arriving")
    dead = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from textfromtrack.media import storage; "
            f"p = storage.new_upload_path(Path({str(settings.data_dir)!r}), '.wav'); "
            "p.write_bytes(b'x'); print(p.name)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    old = folder / ("0" * 32 + ".flac")  # a name from before owners were recorded
    old.write_bytes(b"old")
    os.utime(old, (0, 0))
    stray = storage.exports_dir(settings.data_dir) / "no-such-job"
    stray.mkdir(parents=True)
    (stray / "source.mp3").write_bytes(b"x")
    removed = maintenance.remove_orphans(database, settings)
    assert sorted(removed.uploads) == sorted([dead, old.name])
    assert removed.job_folders == ["no-such-job"]
    assert mine.exists() and not (folder / dead).exists() and not stray.exists()
