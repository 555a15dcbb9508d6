"""The client's whole lifecycle against a real `tft serve` transcribing the JFK clip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textfromtrack_client import (
    DEFAULT_BASE_URL,
    FORMATS,
    InvalidState,
    Job,
    TextFromTrack,
    Unauthorized,
)

from client.conftest import JFK_TEXT
from live import LiveServer
from textfromtrack.pipeline.scoring import word_error_rate


def test_submit_wait_read_export_list_delete(speech_server: LiveServer, jfk: Path) -> None:
    seen: list[Job] = []
    with TextFromTrack(speech_server.new_token(), speech_server.api) as tft:
        me = tft.me()
        assert me.credit_balance == 10
        assert me.top_up_url == "https://example.com/top-up"
        assert set(me.scopes_granted) == {"transcriptions:read", "transcriptions:write"}

        submission = tft.submit(jfk, language="en")
        assert submission.status == "pending"
        assert submission.credits_quoted == 1
        assert submission.duration_seconds == pytest.approx(11.0, abs=0.1)
        assert submission.vintage_mode is False
        assert tft.me().credit_balance == 9  # reserved at admission

        job = tft.wait(submission.job_id, timeout=180, poll_interval=0.3, on_update=seen.append)
        assert job.status == "done"
        assert seen[-1] == job and all(0.0 <= j.progress <= 1.0 for j in seen)
        assert job.filename == "jfk_whisper.flac"
        assert job.language == "en"
        assert job.credits_charged == 1
        assert job.model and job.attempts >= 1 and not job.retried_with_vocal_separation
        assert job.segment_count and job.segment_count > 0
        assert job.completed_at and job.created_at and job.completed_at >= job.created_at
        assert job.exports_expire_at and job.exports_expire_at > job.completed_at
        assert job.runtime_seconds and job.runtime_seconds > 0
        assert [a.number for a in job.attempts_log] == list(range(1, job.attempts + 1))
        assert job.attempts_log[0].pipeline == "standard"
        assert job.attempts_log[0].verdict

        assert tft.get(job.job_id) == job

        segments = tft.segments(job.job_id)
        assert segments.job_id == job.job_id and segments.language == "en"
        assert len(segments.segments) == job.segment_count
        assert [s.index for s in segments.segments] == list(range(len(segments.segments)))
        assert all(0 <= s.start < s.end <= 11.5 for s in segments.segments)
        assert word_error_rate(JFK_TEXT.read_text(), segments.text) < 0.2

        exports = {fmt: tft.export(job.job_id, fmt) for fmt in FORMATS}
        assert exports["txt"].decode().split() == segments.text.split()
        lrc = exports["lrc"].decode()
        timed = re.findall(r"^\[(\d\d):(\d\d\.\d\d)\](.+)$", lrc, re.MULTILINE)
        assert [t for _, _, t in timed] == [s.text for s in segments.segments]
        assert " --> " in exports["srt"].decode()
        assert exports["vtt"].decode().startswith("WEBVTT")
        assert json.loads(exports["json"])  # a document, whatever its exact shape

        page = tft.list()
        assert page.total == 1 and page.page == 1 and page.per_page == 50
        listed = page.transcriptions[0]
        assert listed.job_id == job.job_id and listed.attempts_log == ()
        assert [j.job_id for j in tft.iter_jobs(status="done")] == [job.job_id]
        assert tft.list(status="pending").total == 0

        deleted = tft.delete(job.job_id)
        assert deleted.status == "cancelled"
        assert deleted.credits_charged == 1  # a done job's compute is not refunded
        assert tft.me().credit_balance == 9
        assert tft.delete(job.job_id).status == "cancelled"  # idempotent
        with pytest.raises(InvalidState) as raised:
            tft.export(job.job_id, "lrc")
        assert raised.value.status == 409 and raised.value.code == "validation_error"


def test_transcribe_does_it_all(speech_server: LiveServer, jfk: Path) -> None:
    with TextFromTrack(speech_server.new_token(), speech_server.api) as tft:
        result = tft.transcribe(jfk, formats=["lrc", "srt", "lrc"])
    assert result.job.status == "done"
    assert list(result.exports) == ["lrc", "srt"]
    assert result.exports["lrc"].decode().count("[00:") >= len(result.segments)
    assert "ask not what your country can do for you" in result.text.lower()


def test_token_and_base_url_come_from_the_environment(
    speech_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = speech_server.new_token()
    monkeypatch.setenv("TFT_TOKEN", token)
    monkeypatch.setenv("TFT_BASE_URL", speech_server.api + "/")
    with TextFromTrack() as tft:
        assert tft.base_url == speech_server.api
        assert tft.me().credit_balance == 10
        assert token not in repr(tft)

    monkeypatch.delenv("TFT_BASE_URL")
    with TextFromTrack() as tft:
        assert tft.base_url == DEFAULT_BASE_URL

    monkeypatch.delenv("TFT_TOKEN")
    with pytest.raises(Unauthorized) as raised:
        TextFromTrack(base_url=speech_server.api)
    assert raised.value.status is None and "TFT_TOKEN" in raised.value.message
