"""Each error class, raised from a real response of a running server."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textfromtrack_client import (
    Forbidden,
    Gone,
    InsufficientCredits,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TextFromTrack,
    TextFromTrackError,
    TrackTooLong,
    Unauthorized,
    ValidationError,
)

from audio import write_tone
from live import TFT, LiveServer


@pytest.fixture
def funded(idle_server: LiveServer) -> Iterator[TextFromTrack]:
    """An account with credits on the server whose jobs stay pending; its jobs are
    cancelled afterwards so the per-address limit (3) stays free for other tests."""
    with TextFromTrack(idle_server.new_token(extra_credits=5), idle_server.api) as tft:
        yield tft
        for job in tft.iter_jobs(status="pending"):
            tft.delete(job.job_id)


def test_a_bad_token_is_unauthorized(idle_server: LiveServer) -> None:
    for token in ("tft_pat_" + "x" * 43, "not-even-a-pat"):
        with TextFromTrack(token, idle_server.api) as tft, pytest.raises(Unauthorized) as raised:
            tft.me()
        error = raised.value
        assert (error.status, error.code) == (401, "unauthorized")
        assert error.message and isinstance(error.details, dict)
        assert token not in str(error)


def test_a_token_without_the_write_scope_is_forbidden(idle_server: LiveServer, tone: Path) -> None:
    token = idle_server.new_token(extra_credits=1, scopes=["transcriptions:read"])
    with TextFromTrack(token, idle_server.api) as tft:
        assert tft.list().total == 0  # reading is allowed
        with pytest.raises(Forbidden) as raised:
            tft.submit(tone)
    assert (raised.value.status, raised.value.code) == (403, "forbidden")


def test_no_credits_is_insufficient_credits_with_a_top_up_url(
    idle_server: LiveServer, tone: Path
) -> None:
    with TextFromTrack(idle_server.new_token(), idle_server.api) as tft:
        assert tft.me().credit_balance == 0
        with pytest.raises(InsufficientCredits) as raised:
            tft.submit(tone)
        assert tft.list().total == 0  # refused jobs leave nothing behind
    error = raised.value
    assert (error.status, error.code) == (402, "insufficient_credits")
    assert error.top_up_url == "https://example.com/top-up"
    assert (error.required, error.available) == (1, 0)


def test_a_third_active_job_is_rate_limited_and_not_retried(
    funded: TextFromTrack, tone: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = funded.submit(tone)
    second = funded.submit(tone)
    assert {first.status, second.status} == {"pending"}
    caplog.set_level(logging.INFO, logger="textfromtrack_client")
    started = time.monotonic()
    with pytest.raises(RateLimited) as raised:
        funded.submit(tone)
    # A POST is never retried: the 15 s Retry-After was handed over, not slept through.
    assert time.monotonic() - started < 5
    assert not [r for r in caplog.records if "retry" in r.getMessage()]
    error = raised.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.retry_after == 15
    assert error.details == {"limit": 2, "scope": "user"}

    # Cancelling a pending job refunds it and frees the slot.
    assert funded.delete(first.job_id).credits_charged == 0
    assert funded.me().credit_balance == 4
    third = funded.submit(tone)
    assert third.status == "pending"


def test_bad_files_and_options_are_validation_errors(
    funded: TextFromTrack, tone: Path, tmp_path: Path
) -> None:
    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("these are not the droids you are looking for\n" * 50)
    wrong_extension = tmp_path / "tone.txt"
    wrong_extension.write_bytes(tone.read_bytes())
    for path in (not_audio, wrong_extension):
        with pytest.raises(ValidationError) as raised:
            funded.submit(path)
        assert type(raised.value) is ValidationError
        assert (raised.value.status, raised.value.code) == (400, "validation_error")
        assert "file" in raised.value.fields

    with pytest.raises(ValidationError) as raised:
        funded.submit(tone, pinyin=True, vintage=True)
    assert set(raised.value.fields) == {"pinyin", "vintage"}
    with pytest.raises(ValidationError) as raised:
        funded.submit(tone, language="klingon")
    assert "language" in raised.value.fields
    assert funded.me().credit_balance == 5  # nothing was charged


def test_audio_over_ten_minutes_is_track_too_long(funded: TextFromTrack, tmp_path: Path) -> None:
    long_track = write_tone(tmp_path / "long.flac", 601.0, rate=8000)
    with pytest.raises(TrackTooLong) as raised:
        funded.submit(long_track)
    assert (raised.value.status, raised.value.code) == (400, "track_too_long")
    assert isinstance(raised.value, ValidationError)


def test_an_upload_over_100_mb_is_payload_too_large(funded: TextFromTrack, tmp_path: Path) -> None:
    huge = tmp_path / "huge.wav"
    with huge.open("wb") as fh:
        fh.truncate(101 * 1024 * 1024)  # sparse: costs no disk, still 101 MB on the wire
    with pytest.raises(PayloadTooLarge) as raised:
        funded.submit(huge)
    assert (raised.value.status, raised.value.code) == (413, "validation_error")
    assert isinstance(raised.value, ValidationError)
    assert funded.me().credit_balance == 5


def test_unknown_and_foreign_jobs_are_not_found(
    idle_server: LiveServer, funded: TextFromTrack, tone: Path
) -> None:
    mine = funded.submit(tone)
    with TextFromTrack(idle_server.new_token(), idle_server.api) as stranger:
        for job_id in (mine.job_id, "00000000-0000-0000-0000-000000000000", "../me"):
            for call in (stranger.get, stranger.segments, stranger.delete):
                with pytest.raises(NotFound) as raised:
                    call(job_id)
                assert (raised.value.status, raised.value.code) == (404, "not_found")
    assert funded.get(mine.job_id).status == "pending"  # the stranger's DELETE did nothing


def test_results_of_a_pending_job_are_an_invalid_state(funded: TextFromTrack, tone: Path) -> None:
    job = funded.submit(tone)
    for call in (lambda: funded.segments(job.job_id), lambda: funded.export(job.job_id, "lrc")):
        with pytest.raises(InvalidState) as raised:
            call()
        assert (raised.value.status, raised.value.code) == (409, "validation_error")
        assert raised.value.details == {"status": "pending"}
    # The format is checked before the state, so an unknown one is a plain 400.
    with pytest.raises(ValidationError) as raised:
        funded.export(job.job_id, "docx")
    assert type(raised.value) is ValidationError and raised.value.status == 400


def test_purged_results_are_gone(speech_server: LiveServer, jfk: Path) -> None:
    with TextFromTrack(speech_server.new_token(), speech_server.api) as tft:
        job = tft.transcribe(jfk, formats=[]).job
        # The operator's retention sweep, with a retention period that has already passed.
        env = {**speech_server.env, "TFT_EXPORT_RETENTION_DAYS": "0.000001"}
        swept = subprocess.run(
            [str(TFT), "sweep"], env=env, capture_output=True, text=True, check=False
        )
        assert swept.returncode == 0, swept.stdout + swept.stderr
        for call in (lambda: tft.export(job.job_id, "lrc"), lambda: tft.segments(job.job_id)):
            with pytest.raises(Gone) as raised:
                call()
            assert (raised.value.status, raised.value.code) == (410, "gone")
        assert tft.get(job.job_id).status == "done"


def test_every_error_is_a_textfromtrack_error(idle_server: LiveServer) -> None:
    with (
        TextFromTrack("tft_pat_" + "y" * 43, idle_server.api) as tft,
        pytest.raises(TextFromTrackError) as raised,
    ):
        tft.list()
    assert raised.value.request_id  # the server's X-Request-ID, for support requests
