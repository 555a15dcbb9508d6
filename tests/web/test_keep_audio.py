"""Keeping the audio for playback: opt-in, owner-only streaming with Range, and no orphans.

The kept copy lives in the job's exports folder, so whatever deletes the exports
(cancel, the retention sweep, a cancelled run) must delete it too; these tests check
each of those paths leaves no file behind.
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from support import assert_envelope
from textfromtrack.config import Settings
from textfromtrack.db import Database, alembic_config, utcnow
from textfromtrack.exports import files
from textfromtrack.jobs import audio, maintenance, processing
from textfromtrack.jobs import service as jobs
from textfromtrack.jobs.models import Job
from textfromtrack.media import storage
from textfromtrack.media.store import LocalStore
from web.conftest import Browser, fake_engines

JOBS = "/api/web/jobs"


def exports_of(settings: Settings, job_id: str) -> list[str]:
    folder = files.job_exports_dir(settings.data_dir, job_id)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def uploads(settings: Settings) -> list[Path]:
    folder = storage.uploads_dir(settings.data_dir)
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_kept_audio_streams_to_its_owner_with_ranges(
    browser: Browser, tone: Path, settings: Settings, run_job: Any
) -> None:
    job_id = browser.upload(tone, keep_audio="true").json()["job_id"]
    assert run_job(job_id) == "done"
    assert "source.flac" in exports_of(settings, job_id)
    assert uploads(settings) == []  # the working upload is gone; only the kept copy stays
    assert browser.client.get(f"{JOBS}/{job_id}").json()["audio_available"] is True

    whole = browser.client.get(f"{JOBS}/{job_id}/audio")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/flac"
    assert whole.content == tone.read_bytes()
    assert whole.headers["accept-ranges"] == "bytes"
    part = browser.client.get(f"{JOBS}/{job_id}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{tone.stat().st_size}"
    assert part.content == tone.read_bytes()[100:200]

    page = browser.client.get(f"/app/jobs/{job_id}").text
    assert f'src="/api/web/jobs/{job_id}/audio"' in page and 'id="no-audio"' not in page


def test_without_the_opt_in_nothing_is_kept_and_the_page_says_so(
    browser: Browser, tone: Path, settings: Settings, run_job: Any
) -> None:
    job_id = browser.upload(tone, keep_audio="false").json()["job_id"]
    assert run_job(job_id) == "done"
    assert not any(name.startswith("source.") for name in exports_of(settings, job_id))
    assert uploads(settings) == []
    assert_envelope(browser.client.get(f"{JOBS}/{job_id}/audio"), 404, "not_found")
    page = browser.client.get(f"/app/jobs/{job_id}").text
    assert 'id="player"' not in page
    assert "Playback is not available: the audio was not kept" in page


def test_deleting_a_done_job_deletes_its_audio(
    browser: Browser, tone: Path, settings: Settings, run_job: Any
) -> None:
    job_id = browser.upload(tone, keep_audio="true").json()["job_id"]
    run_job(job_id)
    r = browser.client.delete(f"{JOBS}/{job_id}", headers=browser.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert exports_of(settings, job_id) == []
    assert_envelope(browser.client.get(f"{JOBS}/{job_id}/audio"), 404, "not_found")


def test_cancelling_a_pending_job_leaves_no_audio(
    browser: Browser, tone: Path, settings: Settings
) -> None:
    job_id = browser.upload(tone, keep_audio="true").json()["job_id"]
    assert len(uploads(settings)) == 1
    browser.client.delete(f"{JOBS}/{job_id}", headers=browser.headers())
    assert uploads(settings) == [] and exports_of(settings, job_id) == []


def test_a_job_cancelled_while_it_runs_keeps_nothing(
    browser: Browser,
    tone: Path,
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = browser.upload(tone, keep_audio="true").json()["job_id"]
    engines = fake_engines()
    make_standard = engines.standard

    def cancel_then_transcribe() -> Any:
        with database.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            jobs.cancel(s, settings, job)
        return make_standard()

    monkeypatch.setattr(
        processing,
        "engines",
        lambda _s: type(engines)(cancel_then_transcribe, engines.vintage, engines.separator),
    )
    assert processing.process_job(database, settings, job_id, "test-worker") == "cancelled"
    assert exports_of(settings, job_id) == [] and uploads(settings) == []


def test_the_retention_sweep_deletes_the_audio_with_the_exports(
    browser: Browser, tone: Path, settings: Settings, database: Database, run_job: Any
) -> None:
    job_id = browser.upload(tone, keep_audio="true").json()["job_id"]
    run_job(job_id)
    later = utcnow() + timedelta(days=settings.export_retention_days, hours=1)
    assert maintenance.sweep_expired(database, settings, later) == [job_id]
    assert exports_of(settings, job_id) == []
    # Past its retention date the audio is gone like the transcript, and says so.
    assert_envelope(browser.client.get(f"{JOBS}/{job_id}/audio"), 410, "gone")
    assert browser.client.get(f"{JOBS}/{job_id}").json()["audio_available"] is False


def test_retry_in_music_mode_from_the_kept_audio_charges_one_credit(
    browser: Browser, tone: Path, settings: Settings, run_job: Any
) -> None:
    job_id = browser.upload(tone, keep_audio="true", language="en").json()["job_id"]
    run_job(job_id)
    r = browser.client.post(f"{JOBS}/{job_id}/retry-music", headers=browser.headers())
    assert r.status_code == 201, r.text
    retry = r.json()
    assert retry["job_id"] != job_id and retry["status"] == "pending"
    assert retry["vintage_mode"] is True and retry["keep_audio"] is True
    assert retry["filename"] == "tone.flac" and retry["language_requested"] == "en"
    assert browser.client.get("/api/web/account").json()["credit_balance"] == 8
    assert len(uploads(settings)) == 1  # its own copy: the original job keeps its audio
    assert run_job(retry["job_id"]) == "done"
    done = browser.client.get(f"{JOBS}/{retry['job_id']}").json()
    assert done["vocal_separation_used"] is True and done["model"] == "fake-vintage"
    assert done["audio_available"] is True and "source.flac" in exports_of(settings, job_id)


def test_retry_without_kept_audio_explains_what_to_do(
    browser: Browser, tone: Path, settings: Settings, run_job: Any
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    run_job(job_id)
    error = assert_envelope(
        browser.client.post(f"{JOBS}/{job_id}/retry-music", headers=browser.headers()),
        409,
        "validation_error",
    )
    assert "music mode" in error["message"] and "again" in error["message"]
    assert browser.client.get("/api/web/account").json()["credit_balance"] == 9
    assert uploads(settings) == []


def test_retry_goes_through_admission(
    browser: Browser, tone: Path, settings: Settings, run_job: Any, client: TestClient
) -> None:
    job_id = browser.upload(tone, keep_audio="true").json()["job_id"]
    run_job(job_id)
    for _ in range(2):
        assert browser.upload(tone).status_code == 201
    r = browser.client.post(f"{JOBS}/{job_id}/retry-music", headers=browser.headers())
    assert_envelope(r, 429, "rate_limited")
    # The refused retry left no copy of the audio behind.
    assert len(uploads(settings)) == 2


def test_audio_browsers_cannot_play_gets_an_mp3_for_the_player(tmp_path: Path) -> None:
    aiff = tmp_path / "take.aiff"
    rate = 16_000
    with av.open(str(aiff), "w", format="aiff") as out:
        stream = out.add_stream("pcm_s16be", rate=rate, layout="mono")
        samples = (0.2 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            out.mux(packet)
        for packet in stream.encode(None):  # type: ignore[attr-defined]
            out.mux(packet)
    data_dir = tmp_path / "data"
    files = LocalStore(data_dir)
    kept = audio.keep(files, "job-1", aiff)
    assert kept == "exports/job-1/source.aiff"
    assert (data_dir / kept).read_bytes() == aiff.read_bytes()
    found = audio.playback_key(files, "job-1")
    assert found == ("exports/job-1/playback.mp3", "audio/mpeg")
    with av.open(str(data_dir / found[0])) as check:
        assert check.streams.audio[0].codec_context.name.startswith("mp3")
    assert sorted(p.name for p in (data_dir / "exports" / "job-1").iterdir()) == [
        "playback.mp3",
        "source.aiff",
    ]
    assert audio.source_key(files, "job-2") is None
    assert audio.playback_key(files, "job-2") is None


def test_migration_0004_adds_and_drops_keep_audio(database: Database) -> None:
    cfg = alembic_config(database.url)
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
        assert "keep_audio" not in {c["name"] for c in inspect(conn).get_columns("jobs")}
        command.upgrade(cfg, "head")
        columns = {c["name"]: c for c in inspect(conn).get_columns("jobs")}
    # Not null with a server default: rows from before the migration read as "not kept".
    assert columns["keep_audio"]["nullable"] is False
    assert columns["keep_audio"]["default"] is not None
