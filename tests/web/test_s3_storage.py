"""Uploads and kept audio in an S3 bucket (TFT_STORAGE_URL=s3://bucket/prefix).

The bucket is a real SeaweedFS server (tests/s3server.py), reached with the standard
AWS credential variables, never a mock. Each test keeps to a prefix of its own. The
in-process tests run the real worker code with fake engines (web.conftest), so every
path that stores or deletes a file is checked in milliseconds; the live ones run
``tft serve`` with the bundled Whisper on a real English clip.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from audio import TESTDATA
from live import LiveServer, live_server
from s3server import S3Server
from support import assert_envelope
from textfromtrack.config import Settings
from textfromtrack.db import Database, utcnow
from textfromtrack.jobs import maintenance, processing
from textfromtrack.jobs.models import Job
from textfromtrack.main import create_app
from textfromtrack.media import storage, store
from web.conftest import Browser, FakeEngine, fake_engines, sign_up

JOBS = "/api/web/jobs"
JFK = TESTDATA / "en" / "jfk_whisper.flac"


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_settings(
    settings: Settings, s3: S3Server, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # boto3 reads the standard variables when the store's client is made.
    for name, value in s3.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return settings.model_copy(
        update={
            "storage_url": f"s3://{s3.bucket}/{prefix}",
            "s3_endpoint_url": s3.endpoint,
        }
    )


@pytest.fixture
def s3_client(s3_settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(s3_settings, database), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def s3_browser(s3_client: TestClient) -> Browser:
    return sign_up(s3_client)


@pytest.fixture
def run_s3_job(database: Database, s3_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    def run(job_id: str, engines: Any = None) -> Any:
        chosen = engines or fake_engines()
        monkeypatch.setattr(processing, "engines", lambda _settings: chosen)
        return processing.process_job(database, s3_settings, job_id, "test-worker")

    return run


def local_files(settings: Settings) -> list[str]:
    """Files in the data dir's uploads, exports and spool folders: none, with a bucket."""
    out = []
    for folder in ("uploads", "exports", store.SPOOL):
        root = settings.data_dir / folder
        if root.is_dir():
            out.extend(str(p.relative_to(settings.data_dir)) for p in root.rglob("*"))
    return out


def test_a_job_reads_its_upload_from_the_bucket_and_keeps_its_audio_there(
    s3_browser: Browser,
    s3: S3Server,
    s3_settings: Settings,
    prefix: str,
    tone: Path,
    run_s3_job: Any,
) -> None:
    r = s3_browser.upload(tone, keep_audio="true")
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    uploaded = s3.keys(f"{prefix}/uploads/")
    assert len(uploaded) == 1 and uploaded[0].endswith(".flac")
    assert local_files(s3_settings) == []  # the spool went once the object was stored

    assert run_s3_job(job_id) == "done"
    assert s3.keys(f"{prefix}/uploads/") == []
    assert s3.keys(f"{prefix}/exports/") == [f"{prefix}/exports/{job_id}/source.flac"]
    body = s3.client().get_object(Bucket=s3.bucket, Key=f"{prefix}/exports/{job_id}/source.flac")
    assert body["Body"].read() == tone.read_bytes()
    assert local_files(s3_settings) == []  # the worker's local copy is gone too
    assert s3_browser.client.get(f"{JOBS}/{job_id}").json()["audio_available"] is True
    r = s3_browser.client.get(f"{JOBS}/{job_id}/export", params={"format": "txt"})
    assert r.status_code == 200 and "fellow Americans" in r.text


@pytest.fixture
def s3_done_job(s3_browser: Browser, tone: Path, run_s3_job: Any) -> str:
    job_id = str(s3_browser.upload(tone, keep_audio="true").json()["job_id"])
    assert run_s3_job(job_id) == "done"
    return job_id


def test_kept_audio_in_the_bucket_is_served_with_ranges(
    s3_browser: Browser, s3_done_job: str, tone: Path
) -> None:
    data = tone.read_bytes()
    url = f"{JOBS}/{s3_done_job}/audio"
    whole = s3_browser.client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(len(data))
    assert whole.headers["cache-control"] == "private"

    cases = [
        ("bytes=100-199", 100, 200),
        ("bytes=-100", len(data) - 100, len(data)),
        ("bytes=100-", 100, len(data)),
        (f"bytes=0-{len(data) + 50}", 0, len(data)),
    ]
    for header, start, end in cases:
        part = s3_browser.client.get(url, headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
        assert part.content == data[start:end], header

    several = s3_browser.client.get(url, headers={"Range": "bytes=0-0,5-9"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(several.headers["content-length"]) == len(several.content)
    assert f"Content-Range: bytes 5-9/{len(data)}".encode() in several.content
    assert data[5:10] in several.content

    head = s3_browser.client.head(url, headers={"Range": "bytes=100-199"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["content-length"] == "100"

    # If-Range with the ETag the first answer gave: the range; with another: the whole file.
    etag = whole.headers["etag"]
    same = s3_browser.client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206 and same.content == data[:10]
    other = s3_browser.client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert other.status_code == 200 and other.content == data

    error = assert_envelope(
        s3_browser.client.get(url, headers={"Range": "bytes=99999999-"}), 416, "validation_error"
    )
    assert error["details"]["size"] == len(data)
    for bad in ("bytes=abc", "bytes=5-1", "items=0-1", "garbage"):
        assert_envelope(s3_browser.client.get(url, headers={"Range": bad}), 400, "validation_error")


def test_deleting_a_done_job_deletes_its_objects(
    s3_browser: Browser, s3_done_job: str, s3: S3Server, prefix: str
) -> None:
    assert s3.keys(f"{prefix}/exports/{s3_done_job}/")
    r = s3_browser.client.delete(f"{JOBS}/{s3_done_job}", headers=s3_browser.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert s3.keys(f"{prefix}/") == []
    assert_envelope(s3_browser.client.get(f"{JOBS}/{s3_done_job}/audio"), 404, "not_found")


def test_cancelling_a_pending_job_deletes_its_upload(
    s3_browser: Browser, s3: S3Server, prefix: str, tone: Path
) -> None:
    job_id = s3_browser.upload(tone, keep_audio="true").json()["job_id"]
    assert len(s3.keys(f"{prefix}/uploads/")) == 1
    s3_browser.client.delete(f"{JOBS}/{job_id}", headers=s3_browser.headers())
    assert s3.keys(f"{prefix}/") == []


class BrokenEngine(FakeEngine):
    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the engine broke")


def test_a_failed_job_removes_its_upload_and_is_refunded(
    s3_browser: Browser,
    s3: S3Server,
    s3_settings: Settings,
    prefix: str,
    tone: Path,
    run_s3_job: Any,
) -> None:
    job_id = s3_browser.upload(tone, keep_audio="true").json()["job_id"]
    engines = fake_engines()
    broken = type(engines)(lambda: BrokenEngine("broken", ()), engines.vintage, engines.separator)
    assert run_s3_job(job_id, broken) == "error"
    job = s3_browser.client.get(f"{JOBS}/{job_id}").json()
    assert "the engine broke" in job["error"]
    assert s3_browser.client.get("/api/web/account").json()["credit_balance"] == 10
    assert s3.keys(f"{prefix}/") == [] and local_files(s3_settings) == []


def test_a_refused_upload_leaves_no_object(
    s3_browser: Browser, s3: S3Server, prefix: str, tmp_path: Path
) -> None:
    fake = tmp_path / "not-audio.mp3"
    fake.write_bytes(b"this is not an mp3 file at all" * 100)
    r = s3_browser.upload(fake)
    assert r.status_code == 400, r.text
    assert s3.keys(f"{prefix}/") == []


def test_the_retention_sweep_deletes_kept_audio_in_the_bucket(
    s3_browser: Browser,
    s3_done_job: str,
    s3: S3Server,
    s3_settings: Settings,
    database: Database,
    prefix: str,
) -> None:
    later = utcnow() + timedelta(days=s3_settings.export_retention_days, hours=1)
    assert maintenance.sweep_expired(database, s3_settings, later) == [s3_done_job]
    assert s3.keys(f"{prefix}/") == []
    assert_envelope(s3_browser.client.get(f"{JOBS}/{s3_done_job}/audio"), 410, "gone")


def test_retry_in_music_mode_copies_the_kept_audio_in_the_bucket(
    s3_browser: Browser, s3_done_job: str, s3: S3Server, prefix: str, run_s3_job: Any
) -> None:
    r = s3_browser.client.post(f"{JOBS}/{s3_done_job}/retry-music", headers=s3_browser.headers())
    assert r.status_code == 201, r.text
    assert len(s3.keys(f"{prefix}/uploads/")) == 1
    assert run_s3_job(r.json()["job_id"]) == "done"
    assert s3.keys(f"{prefix}/uploads/") == []
    assert len(s3.keys(f"{prefix}/exports/")) == 2  # each job its own kept copy


def test_orphans_in_the_bucket_go_by_age_and_owned_objects_stay(
    s3_browser: Browser,
    s3: S3Server,
    s3_settings: Settings,
    database: Database,
    prefix: str,
    tone: Path,
) -> None:
    client = s3.client()
    owned_job = s3_browser.upload(tone).json()["job_id"]
    (owned,) = s3.keys(f"{prefix}/uploads/")
    # Named as a live process on another host would name them: only age can judge them.
    old_name = f"{'f' * 8}-1-{uuid.uuid4().hex}.mp3"
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/uploads/{old_name}", Body=b"old")
    old_at = client.head_object(Bucket=s3.bucket, Key=f"{prefix}/uploads/{old_name}")[
        "LastModified"
    ]
    time.sleep(1.2)  # LastModified counts whole seconds
    fresh_name = f"{'f' * 8}-1-{uuid.uuid4().hex}.mp3"
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/uploads/{fresh_name}", Body=b"fresh")
    fresh_at = client.head_object(Bucket=s3.bucket, Key=f"{prefix}/uploads/{fresh_name}")[
        "LastModified"
    ]
    assert fresh_at > old_at
    client.put_object(Bucket=s3.bucket, Key=f"{prefix}/exports/no-such-job/source.mp3", Body=b"x")

    # Half a second past the grace for the old object; the fresh one is a second younger.
    now = old_at + maintenance.ORPHAN_UPLOAD_AGE + timedelta(seconds=0.5)
    removed = maintenance.remove_orphans(database, s3_settings, now)
    assert removed.uploads == [old_name]
    assert removed.job_folders == ["no-such-job"]
    left = s3.keys(f"{prefix}/")
    assert left == sorted([owned, f"{prefix}/uploads/{fresh_name}"])
    # Much later still, an upload a job owns is never an orphan.
    removed = maintenance.remove_orphans(database, s3_settings, now + timedelta(days=1))
    assert removed.uploads == [fresh_name]
    assert s3.keys(f"{prefix}/") == [owned]
    with database.session() as s:
        assert s.get(Job, owned_job) is not None


def test_spool_files_of_dead_processes_are_removed(
    s3_settings: Settings, database: Database
) -> None:
    spool = store.spool_dir(s3_settings.data_dir)
    spool.mkdir(parents=True)
    mine = spool / storage.new_upload_name(".flac")
    mine.write_bytes(b"in use")
    dead = spool / f"{storage.new_upload_name('.flac').split('-', 1)[0]}-999999999-{'0' * 32}.flac"
    dead.write_bytes(b"left by a killed worker")
    maintenance.remove_orphans(database, s3_settings)
    assert mine.exists() and not dead.exists()


def test_readyz_checks_the_bucket(
    s3_client: TestClient, settings: Settings, database: Database, s3: S3Server
) -> None:
    r = s3_client.get("/readyz")
    assert r.status_code == 200 and r.json()["storage"] == "ok", r.text
    missing = settings.model_copy(
        update={"storage_url": "s3://no-such-bucket-here/x", "s3_endpoint_url": s3.endpoint}
    )
    with TestClient(create_app(missing, database), raise_server_exceptions=False) as c:
        error = assert_envelope(c.get("/readyz"), 503, "internal_error")
    assert error["details"]["storage"] == "no such bucket"
    assert "s3://no-such-bucket-here/x" in error["message"]


# ---------------------------------------------------------------- a live server


@pytest.fixture(scope="module")
def s3_live(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path, s3: S3Server
) -> Iterator[tuple[LiveServer, str]]:
    prefix = f"live-{uuid.uuid4().hex[:12]}/files"
    env = {**s3.env(), "TFT_STORAGE_URL": f"s3://{s3.bucket}/{prefix}"}
    with live_server(tmp_path_factory.mktemp("s3-live"), model_cache, extra_env=env) as server:
        yield server, prefix


@pytest.fixture
def jfk() -> Path:
    if not JFK.is_file():
        pytest.skip("../shared/testdata is absent")
    return JFK


def _wait_done(http: httpx.Client, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = http.get(f"{JOBS}/{job_id}").json()
        if job["status"] in ("done", "error", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


@pytest.mark.slow
def test_live_server_with_a_bucket(
    s3_live: tuple[LiveServer, str], s3: S3Server, jfk: Path
) -> None:
    """Real speech through `tft serve` on S3: the upload is gone once done, the kept audio
    is in the bucket and served with Range, DELETE and the retention sweep empty it."""
    server, prefix = s3_live
    _, jwt = server.register()
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["storage"] == "ok"
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {jwt}"}, timeout=60
    ) as http:
        ids = []
        for _ in range(2):
            with jfk.open("rb") as fh:
                r = http.post(
                    JOBS,
                    files={"file": ("jfk.flac", fh, "audio/flac")},
                    data={"keep_audio": "true", "language": "en"},
                )
            assert r.status_code == 201, r.text
            ids.append(r.json()["job_id"])
        for job_id in ids:
            job = _wait_done(http, job_id)
            assert job["status"] == "done", (job, server.log()[-3000:])
        text = http.get(f"{JOBS}/{ids[0]}/export", params={"format": "txt"}).text
        assert "Americans" in text and "country" in text
        assert s3.keys(f"{prefix}/uploads/") == []
        assert s3.keys(f"{prefix}/exports/") == sorted(
            f"{prefix}/exports/{job_id}/source.flac" for job_id in ids
        )
        assert not (server.data_dir / "uploads").exists() or not any(
            (server.data_dir / "uploads").iterdir()
        )

        data = jfk.read_bytes()
        part = http.get(f"{JOBS}/{ids[0]}/audio", headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert http.get(f"{JOBS}/{ids[0]}/audio").content == data
        refused = http.get(f"{JOBS}/{ids[0]}/audio", headers={"Range": f"bytes={len(data)}-"})
        assert refused.status_code == 416
        assert refused.json()["error"]["code"] == "validation_error"
        assert refused.headers["content-range"] == f"bytes */{len(data)}"

        r = http.delete(f"{JOBS}/{ids[0]}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert s3.keys(f"{prefix}/exports/") == [f"{prefix}/exports/{ids[1]}/source.flac"]

        # Retention: the second job's completion moved back past the period, then the
        # operator's sweep (the same pass the maintenance role runs) empties the bucket.
        db = Database(server.env["TFT_DATABASE_URL"])
        try:
            with db.session() as s:
                s.execute(
                    update(Job)
                    .where(Job.id == ids[1])
                    .values(completed_at=utcnow() - timedelta(days=8))
                )
        finally:
            db.dispose()
        server.cli("sweep")
        assert s3.keys(f"{prefix}/") == []
        assert_envelope(http.get(f"{JOBS}/{ids[1]}/audio"), 410, "gone")
