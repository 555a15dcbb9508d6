"""Real audio through the real bundled Whisper base, end to end over HTTP.

Skipped when ../shared/testdata is absent. The model loads once per test process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from audio import TESTDATA
from jobs.conftest import assert_ledger_consistent, uploads
from support import assert_envelope, bearer, make_account, make_token
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database, utcnow
from textfromtrack.jobs import maintenance
from textfromtrack.jobs.models import Job, JobSegment, JobStatus
from textfromtrack.main import create_app
from textfromtrack.pipeline.scoring import word_error_rate

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is absent")

URL = "/api/v1/transcriptions"
EN = TESTDATA / "en"
SPEECH = [
    EN / "jfk_whisper.flac",
    EN / "librispeech_test-clean_1995-1837-0001.wav",
    EN / "librispeech_dev-clean_2412-153948-0000.flac",
]


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"inline_workers": 1, "heartbeat_seconds": 0.5})


@pytest.fixture
def live(live_settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(live_settings, database), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def token(live: TestClient) -> str:
    return str(make_token(live, make_account(live))["token"])


def submit(client: TestClient, token: str, path: Path, **form: str) -> str:
    with path.open("rb") as fh:
        r = client.post(URL, headers=bearer(token), files={"file": (path.name, fh)}, data=form)
    assert r.status_code == 201, r.text
    return str(r.json()["job_id"])


def wait(
    client: TestClient, token: str, job_id: str, until: set[str], timeout: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"{URL}/{job_id}", headers=bearer(token)).json()
        assert 0.0 <= job["progress"] <= 1.0
        if job["status"] in until:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {until}")


@pytest.mark.parametrize("audio", SPEECH, ids=lambda p: p.name)
def test_speech_to_every_export(
    live: TestClient, token: str, audio: Path, database: Database, live_settings: Settings
) -> None:
    job_id = submit(live, token, audio)
    job = wait(live, token, job_id, {"done", "error"})
    assert job["status"] == "done", job
    assert job["language"] == "en"
    assert job["model"] == "whisper-base"
    assert job["credits_charged"] == 1 and job["attempts"] == 1 and job["degraded"] is False
    assert job["vocal_separation_used"] is False
    assert job["runtime_seconds"] > 0 and job["completed_at"] and job["progress"] == 1.0
    assert job["attempts_log"][0]["engine"] == "faster-whisper"

    segs = live.get(f"{URL}/{job_id}/segments", headers=bearer(token)).json()
    assert segs["job_id"] == job_id and segs["language"] == "en"
    lines = segs["segments"]
    assert len(lines) == job["segment_count"] > 0
    assert [s["index"] for s in lines] == list(range(len(lines)))
    previous_end = 0.0
    for s in lines:
        assert set(s) == {"index", "start", "end", "text"}
        assert 0 <= s["start"] <= s["end"] <= job["duration_seconds"] + 0.5
        assert s["start"] >= previous_end - 0.01
        assert s["text"].strip() and len(s["text"]) <= 60 and s["end"] - s["start"] <= 7.5
        previous_end = s["end"]
    reference = audio.with_suffix(".txt").read_text()
    hypothesis = " ".join(s["text"] for s in lines)
    wer = word_error_rate(reference, hypothesis, "en")
    assert wer < 0.10, (wer, hypothesis)

    expected_types = {
        "txt": "text/plain",
        "srt": "application/x-subrip",
        "lrc": "text/x-lrc",
        "json": "application/json",
        "vtt": "text/vtt",
    }
    for fmt, ctype in expected_types.items():
        r = live.get(f"{URL}/{job_id}/export", headers=bearer(token), params={"format": fmt})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(ctype)
        assert f'filename="{audio.stem}.{fmt}"' in r.headers["content-disposition"]
        assert r.headers["content-disposition"].startswith("attachment")
        text = r.text
        if fmt == "txt":
            assert text.splitlines() == [s["text"] for s in lines]
        elif fmt == "srt":
            assert text.startswith("1\n00:00:") and " --> " in text
        elif fmt == "vtt":
            assert text.startswith("WEBVTT\n")
        elif fmt == "lrc":
            assert text.startswith(f"[ti:{audio.stem}]\n[length:") and "[re:TextFromTrack]" in text
        else:
            assert r.json()["segments"][0]["text"] == lines[0]["text"]
    # The audio is gone once the job is done; the ledger agrees.
    assert uploads(live_settings.data_dir) == []
    assert_ledger_consistent(database)


def test_retention_then_410_and_job_stays_listed(
    live: TestClient, token: str, database: Database, live_settings: Settings
) -> None:
    job_id = submit(live, token, SPEECH[0])
    job = wait(live, token, job_id, {"done", "error"})
    assert job["status"] == "done"
    completed = job["completed_at"]
    with database.session() as s:
        completed_at = s.get(Job, job_id).completed_at  # type: ignore[union-attr]
    assert completed_at is not None and completed
    # One second before the deadline: nothing is removed.
    maintenance.sweep_expired(
        database, live_settings, now=completed_at + timedelta(days=7) - timedelta(seconds=1)
    )
    assert live.get(f"{URL}/{job_id}/export?format=lrc", headers=bearer(token)).status_code == 200
    # One second after it: gone.
    purged = maintenance.sweep_expired(
        database, live_settings, now=completed_at + timedelta(days=7, seconds=1)
    )
    assert purged == [job_id]
    assert_envelope(
        live.get(f"{URL}/{job_id}/export?format=lrc", headers=bearer(token)), 410, "gone"
    )
    assert_envelope(live.get(f"{URL}/{job_id}/segments", headers=bearer(token)), 410, "gone")
    assert not (live_settings.data_dir / "exports" / job_id).exists()
    listed = live.get(URL, headers=bearer(token)).json()["transcriptions"]
    assert [j["job_id"] for j in listed] == [job_id] and listed[0]["status"] == "done"
    with database.session() as s:
        assert s.scalars(select(JobSegment).where(JobSegment.job_id == job_id)).all() == []
    assert_ledger_consistent(database)


def test_cancelling_a_done_job_removes_exports_without_refund(
    live: TestClient, token: str, database: Database, live_settings: Settings
) -> None:
    job_id = submit(live, token, SPEECH[0])
    assert wait(live, token, job_id, {"done", "error"})["status"] == "done"
    r = live.delete(f"{URL}/{job_id}", headers=bearer(token))
    assert (
        r.status_code == 200
        and r.json()["status"] == "cancelled"
        and r.json()["credits_charged"] == 1
    )
    assert not (live_settings.data_dir / "exports" / job_id).exists()
    assert_envelope(
        live.get(f"{URL}/{job_id}/export?format=txt", headers=bearer(token)),
        409,
        "validation_error",
    )
    assert_ledger_consistent(database)


def test_cancelling_a_processing_job_stops_it_without_refund(
    live: TestClient, token: str, database: Database, live_settings: Settings
) -> None:
    long_clip = (
        EN / "librivox_sense_and_sensibility" / "sense_and_sensibility_01_austen_64kb-0870.wav"
    )
    job_id = submit(live, token, long_clip)
    job = wait(live, token, job_id, {"processing", "done", "error"})
    if job["status"] != "processing":
        pytest.skip("the worker finished before the test could cancel it")
    r = live.delete(f"{URL}/{job_id}", headers=bearer(token))
    assert r.json()["status"] in {"cancelled", "done"}
    # Give the worker time to reach its next stage boundary and clean up.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with database.session() as s:
            row = s.get(Job, job_id)
            assert row is not None
            if row.upload_name is None:
                break
        time.sleep(0.2)
    final = live.get(f"{URL}/{job_id}", headers=bearer(token)).json()
    assert final["status"] == "cancelled" and final["credits_charged"] == 1
    assert not (live_settings.data_dir / "exports" / job_id).exists()
    assert uploads(live_settings.data_dir) == []
    assert_ledger_consistent(database)


def test_failed_job_is_marked_error_and_refunded(
    live: TestClient, token: str, database: Database, live_settings: Settings
) -> None:
    # Halt the worker's pickup by submitting while it is busy is racy; instead remove the
    # stored audio between admission and processing, which the worker must survive.
    live.app.state.dispatcher.stop()  # type: ignore[attr-defined]
    job_id = submit(live, token, SPEECH[0])
    for path in uploads(live_settings.data_dir):
        path.unlink()
    live.app.state.dispatcher.start()  # type: ignore[attr-defined]
    job = wait(live, token, job_id, {"done", "error"})
    assert job["status"] == "error"
    assert "refunded" in job["error"] and job["credits_charged"] == 0
    assert_envelope(
        live.get(f"{URL}/{job_id}/export?format=txt", headers=bearer(token)),
        409,
        "validation_error",
    )
    assert_ledger_consistent(database)


def _leave_processing(database: Database, job_id: str, claims: int) -> None:
    with database.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.PROCESSING,
                worker_id="some-other-host:4242:inline-0",
                heartbeat_at=utcnow() - timedelta(hours=1),
                started_at=utcnow() - timedelta(hours=1),
                claims=claims,
            )
        )


@pytest.mark.parametrize(("claims", "outcome"), [(1, "done"), (3, "error")])
def test_a_job_left_by_a_dead_worker_is_finished_or_refunded_after_restart(
    settings: Settings, live_settings: Settings, database: Database, claims: int, outcome: str
) -> None:
    # First life: admit the job with no workers, then "crash" with it in processing.
    with TestClient(create_app(settings, database), raise_server_exceptions=False) as first:
        token = str(make_token(first, make_account(first))["token"])
        job_id = submit(first, token, SPEECH[0])
    _leave_processing(database, job_id, claims)
    # Second life: the restarted service recovers it.
    with TestClient(create_app(live_settings, database), raise_server_exceptions=False) as second:
        job = wait(second, token, job_id, {"done", "error"})
    assert job["status"] == outcome
    with database.session() as s:
        charged = credits.is_charged(s, job_id)
    assert charged is (outcome == "done")
    assert_ledger_consistent(database)
