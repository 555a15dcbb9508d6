"""Submission, admission and every error the jobs API can produce, through HTTP.

These run with no workers, so jobs stay pending and no model is needed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jobs.conftest import assert_ledger_consistent, uploads
from support import Account, assert_envelope, bearer, make_account, make_token
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job

URL = "/api/v1/transcriptions"


@pytest.fixture
def token(client: TestClient, account: Account) -> str:
    return str(make_token(client, account)["token"])


def post_file(
    client: TestClient, token: str, path: Path, name: str | None = None, **form: Any
) -> Any:
    with path.open("rb") as fh:
        return client.post(
            URL,
            headers=bearer(token),
            files={"file": (name or path.name, fh)},
            data={k: str(v) for k, v in form.items()},
        )


def job_count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def balance(db: Database, user_id: str) -> int:
    with db.session() as s:
        return credits.balance(s, user_id)


@pytest.mark.parametrize("name", ["tone.wav", "tone.mp3", "tone.flac", "exactly600.flac"])
def test_submit_accepts_audio_and_debits_one_credit(
    client: TestClient,
    token: str,
    account: Account,
    audio_dir: Path,
    database: Database,
    settings: Settings,
    name: str,
) -> None:
    r = post_file(client, token, audio_dir / name)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"job_id", "status", "credits_quoted", "duration_seconds", "vintage_mode"}
    assert (
        body["status"] == "pending"
        and body["credits_quoted"] == 1
        and body["vintage_mode"] is False
    )
    expected = 600.0 if name.startswith("exactly") else 3.0
    assert abs(body["duration_seconds"] - expected) < 0.1
    assert balance(database, account.user_id) == 9
    stored = uploads(settings.data_dir)
    assert (
        len(stored) == 1 and stored[0].name != name and len(stored[0].stem.rsplit("-", 1)[1]) == 32
    )
    job = client.get(f"{URL}/{body['job_id']}", headers=bearer(token)).json()
    assert job["status"] == "pending" and job["filename"] == name and job["credits_charged"] == 1
    assert job["attempts_log"] == [] and job["progress"] == 0
    assert_ledger_consistent(database)


@pytest.mark.parametrize(
    ("name", "upload_as", "status", "code"),
    [
        ("tone.txt", None, 400, "validation_error"),
        ("tone.wav", "noextension", 400, "validation_error"),
        ("empty.mp3", None, 400, "validation_error"),
        ("text.mp3", None, 400, "validation_error"),
        ("wav_named.mp3", None, 400, "validation_error"),
        ("long.flac", None, 400, "track_too_long"),
    ],
)
def test_rejected_uploads_leave_nothing_behind(
    client: TestClient,
    token: str,
    account: Account,
    audio_dir: Path,
    database: Database,
    settings: Settings,
    name: str,
    upload_as: str | None,
    status: int,
    code: str,
) -> None:
    err = assert_envelope(post_file(client, token, audio_dir / name, upload_as), status, code)
    assert err["message"]
    assert job_count(database) == 0
    assert uploads(settings.data_dir) == []
    assert balance(database, account.user_id) == 10


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"pinyin": "true", "vintage": "true"}, "pinyin"),
        ({"language": "klingon"}, "language"),
        ({"pinyin": "maybe"}, "pinyin"),
    ],
)
def test_bad_options_are_400(
    client: TestClient,
    token: str,
    audio_dir: Path,
    database: Database,
    settings: Settings,
    form: dict[str, str],
    field: str,
) -> None:
    err = assert_envelope(
        post_file(client, token, audio_dir / "tone.wav", **form), 400, "validation_error"
    )
    assert field in err["details"]["fields"]
    assert job_count(database) == 0 and uploads(settings.data_dir) == []


def test_missing_file_is_400(client: TestClient, token: str) -> None:
    err = assert_envelope(
        client.post(URL, headers=bearer(token), data={"pinyin": "true"}), 400, "validation_error"
    )
    assert "file" in err["details"]["fields"]


def test_language_option_is_kept(
    client: TestClient, token: str, audio_dir: Path, database: Database
) -> None:
    r = post_file(client, token, audio_dir / "tone.wav", language="ES")
    assert r.status_code == 201
    with database.session() as s:
        assert s.get(Job, r.json()["job_id"]).language_requested == "es"  # type: ignore[union-attr]


def test_content_length_over_100_mb_is_413_before_reading(
    client: TestClient, token: str, database: Database
) -> None:
    headers = {
        **bearer(token),
        "Content-Length": str(200 * 1024 * 1024),
        "Content-Type": "multipart/form-data; boundary=x",
    }
    r = client.post(URL, headers=headers, content=b"--x--\r\n")
    assert_envelope(r, 413, "validation_error")
    assert job_count(database) == 0


def test_streamed_body_over_100_mb_is_413(
    client: TestClient, token: str, database: Database, settings: Settings
) -> None:
    chunk = b"\0" * (1024 * 1024)
    boundary = "tftboundary"

    def body() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        for _ in range(102):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = client.post(URL, headers=headers, content=body())
    assert_envelope(r, 413, "validation_error")
    assert job_count(database) == 0 and uploads(settings.data_dir) == []


def test_json_bodies_elsewhere_are_capped(client: TestClient) -> None:
    r = client.post(
        "/api/auth/login",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert_envelope(r, 413, "validation_error")


def test_insufficient_credits_is_402_with_details(
    client: TestClient,
    account: Account,
    token: str,
    audio_dir: Path,
    database: Database,
    settings: Settings,
) -> None:
    with database.session() as s:
        for n in range(10):
            credits.debit_for_job(s, account.user_id, f"spent-{n}")
    err = assert_envelope(
        post_file(client, token, audio_dir / "tone.wav"), 402, "insufficient_credits"
    )
    assert err["details"] == {
        "required": 1,
        "available": 0,
        "top_up_url": "https://example.com/top-up",
    }
    assert job_count(database) == 0 and uploads(settings.data_dir) == []


def test_third_active_job_of_a_user_is_429(
    client: TestClient,
    account: Account,
    token: str,
    audio_dir: Path,
    database: Database,
    settings: Settings,
) -> None:
    for _ in range(2):
        assert post_file(client, token, audio_dir / "tone.wav").status_code == 201
    r = post_file(client, token, audio_dir / "tone.wav")
    assert_envelope(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    assert job_count(database) == 2 and len(uploads(settings.data_dir)) == 2
    assert balance(database, account.user_id) == 8
    # Cancelling one frees its slot and refunds it.
    job_id = client.get(URL, headers=bearer(token)).json()["transcriptions"][0]["job_id"]
    cancelled = client.delete(f"{URL}/{job_id}", headers=bearer(token))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["credits_charged"] == 0
    assert balance(database, account.user_id) == 9
    assert len(uploads(settings.data_dir)) == 1
    assert post_file(client, token, audio_dir / "tone.wav").status_code == 201
    assert_ledger_consistent(database)


def test_fourth_active_job_from_one_address_is_429(
    client: TestClient, audio_dir: Path, database: Database
) -> None:
    tokens = [str(make_token(client, make_account(client))["token"]) for _ in range(3)]
    assert post_file(client, tokens[0], audio_dir / "tone.wav").status_code == 201
    assert post_file(client, tokens[0], audio_dir / "tone.wav").status_code == 201
    assert post_file(client, tokens[1], audio_dir / "tone.wav").status_code == 201
    r = post_file(client, tokens[2], audio_dir / "tone.wav")
    err = assert_envelope(r, 429, "rate_limited")
    assert err["details"]["scope"] == "ip"
    assert job_count(database) == 3


@pytest.mark.parametrize(("limit_credits", "expected_ok"), [(None, 2), (1, 1)])
def test_parallel_submissions_never_over_admit(
    client: TestClient,
    account: Account,
    token: str,
    audio_dir: Path,
    database: Database,
    settings: Settings,
    limit_credits: int | None,
    expected_ok: int,
) -> None:
    if limit_credits is not None:
        with database.session() as s:
            for n in range(10 - limit_credits):
                credits.debit_for_job(s, account.user_id, f"spent-{n}")
    results: list[int] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        barrier.wait()
        results.append(post_file(client, token, audio_dir / "tone.wav").status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(201) == expected_ok, results
    assert set(results) <= {201, 402, 429}
    assert job_count(database) == expected_ok
    assert len(uploads(settings.data_dir)) == expected_ok
    assert_ledger_consistent(database)


def test_another_users_job_is_404_everywhere(
    client: TestClient, token: str, audio_dir: Path
) -> None:
    job_id = post_file(client, token, audio_dir / "tone.wav").json()["job_id"]
    other = str(make_token(client, make_account(client))["token"])
    for method, path in [
        ("GET", f"{URL}/{job_id}"),
        ("GET", f"{URL}/{job_id}/segments"),
        ("GET", f"{URL}/{job_id}/export?format=txt"),
        ("DELETE", f"{URL}/{job_id}"),
        ("GET", f"{URL}/does-not-exist"),
        ("GET", f"{URL}/{'x' * 500}"),
    ]:
        assert_envelope(client.request(method, path, headers=bearer(other)), 404, "not_found")
    assert client.get(f"{URL}/{job_id}", headers=bearer(token)).json()["status"] == "pending"
    assert client.get(URL, headers=bearer(other)).json()["total"] == 0


def test_results_of_a_pending_job_are_409(client: TestClient, token: str, audio_dir: Path) -> None:
    job_id = post_file(client, token, audio_dir / "tone.wav").json()["job_id"]
    assert_envelope(
        client.get(f"{URL}/{job_id}/segments", headers=bearer(token)), 409, "validation_error"
    )
    assert_envelope(
        client.get(f"{URL}/{job_id}/export?format=lrc", headers=bearer(token)),
        409,
        "validation_error",
    )
    assert_envelope(
        client.get(f"{URL}/{job_id}/export?format=docx", headers=bearer(token)),
        400,
        "validation_error",
    )


def test_scopes_and_credentials_on_job_routes(
    client: TestClient, account: Account, audio_dir: Path
) -> None:
    read_only = str(make_token(client, account, scopes=["transcriptions:read"])["token"])
    assert_envelope(post_file(client, read_only, audio_dir / "tone.wav"), 403, "forbidden")
    assert client.get(URL, headers=bearer(read_only)).status_code == 200
    assert_envelope(client.delete(f"{URL}/x", headers=bearer(read_only)), 403, "forbidden")
    assert_envelope(client.get(URL), 401, "unauthorized")
    assert_envelope(client.get(URL, headers=account.web), 401, "unauthorized")


def test_listing_pages_filters_and_slim_shape(
    client: TestClient, token: str, audio_dir: Path, database: Database
) -> None:
    first = post_file(client, token, audio_dir / "tone.wav").json()["job_id"]
    client.delete(f"{URL}/{first}", headers=bearer(token))
    second = post_file(client, token, audio_dir / "tone.mp3").json()["job_id"]
    listing = client.get(URL, headers=bearer(token)).json()
    assert listing["page"] == 1 and listing["per_page"] == 50 and listing["total"] == 2
    assert [j["job_id"] for j in listing["transcriptions"]] == [second, first]
    assert all("attempts_log" not in j for j in listing["transcriptions"])
    page2 = client.get(URL, headers=bearer(token), params={"per_page": 1, "page": 2}).json()
    assert [j["job_id"] for j in page2["transcriptions"]] == [first]
    pending = client.get(URL, headers=bearer(token), params={"status": "pending"}).json()
    assert [j["job_id"] for j in pending["transcriptions"]] == [second]
    for params in ({"per_page": 201}, {"per_page": 0}, {"page": 0}, {"status": "sleeping"}):
        assert_envelope(
            client.get(URL, headers=bearer(token), params=params), 400, "validation_error"
        )
    assert client.get(URL, headers=bearer(token), params={"per_page": 200}).status_code == 200


def test_cancel_is_idempotent(
    client: TestClient, token: str, audio_dir: Path, account: Account, database: Database
) -> None:
    job_id = post_file(client, token, audio_dir / "tone.wav").json()["job_id"]
    for _ in range(2):
        r = client.delete(f"{URL}/{job_id}", headers=bearer(token))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert balance(database, account.user_id) == 10
    assert_ledger_consistent(database)
