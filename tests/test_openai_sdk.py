"""The official `openai` SDK, a client nobody here wrote, against a live `tft serve`.

Every response_format, both timestamp granularities, a language, a prompt, the
translation call, the model list, and each error class the SDK raises; WER on the
shared English clips equals the /api/v1 path's on the same clips.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from audio import TESTDATA, write_tone
from live import LiveServer, live_server
from textfromtrack.pipeline.scoring import word_error_rate

openai = pytest.importorskip("openai")

EN = TESTDATA / "en"
if not EN.is_dir():
    pytest.skip(f"test recordings not found at {EN}", allow_module_level=True)

JFK = EN / "jfk_whisper.flac"
CLIPS = sorted(p for p in EN.iterdir() if p.suffix in {".wav", ".flac"})[:4]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[LiveServer]:
    env = {
        "TFT_SIGNUP_CREDITS": "100",
        # Every clip here is short: keep the SDK's calls on one worker, in order.
        "TFT_MAX_ACTIVE_JOBS_PER_USER": "3",
    }
    with live_server(tmp_path_factory.mktemp("openai"), model_cache, env) as live:
        yield live


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return server.new_token()


@pytest.fixture(scope="module")
def client(server: LiveServer, token: str) -> Any:
    return openai.OpenAI(api_key=token, base_url=f"{server.url}/v1", max_retries=0, timeout=300)


def _reference(clip: Path) -> str:
    return clip.with_suffix(".txt").read_text().strip()


def test_json_is_the_default_and_carries_the_text(client: Any) -> None:
    with JFK.open("rb") as fh:
        result = client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert word_error_rate(_reference(JFK), result.text) < 0.2


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_plain_text_formats(client: Any, fmt: str) -> None:
    with JFK.open("rb") as fh:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=fh, response_format=fmt, language="en"
        )
    assert isinstance(result, str) and "country" in result.lower()
    if fmt == "srt":
        assert result.startswith("1\n") and " --> " in result
    if fmt == "vtt":
        assert result.startswith("WEBVTT")


def test_verbose_json_with_words_and_segments(client: Any) -> None:
    with JFK.open("rb") as fh:
        result = client.audio.transcriptions.create(
            model="whisper-1",
            file=fh,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
            language="en",
            prompt="A speech by President Kennedy.",
        )
    assert result.language == "english" and abs(result.duration - 11.0) < 0.1
    assert result.segments and result.words
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in result.words)
    assert result.segments[-1].end <= result.duration + 0.5
    assert {w.word.strip(",.").lower() for w in result.words} >= {"ask", "country"}


def test_translation_into_english(client: Any) -> None:
    with JFK.open("rb") as fh:
        result = client.audio.translations.create(model="whisper-1", file=fh)
    assert "country" in result.text.lower()


def test_models_are_listed(client: Any) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "whisper-1" and "textfromtrack-vintage" in ids and "whisper-base" in ids
    assert client.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-unknown")


def test_each_call_is_a_job_in_the_users_list(server: LiveServer, token: str, client: Any) -> None:
    before = httpx.get(
        f"{server.api}/transcriptions", headers={"Authorization": f"Bearer {token}"}
    ).json()["total"]
    balance = httpx.get(f"{server.api}/me", headers={"Authorization": f"Bearer {token}"}).json()[
        "credit_balance"
    ]
    with JFK.open("rb") as fh:
        client.audio.transcriptions.create(model="whisper-1", file=fh, response_format="text")
    me = httpx.get(f"{server.api}/me", headers={"Authorization": f"Bearer {token}"}).json()
    listed = httpx.get(
        f"{server.api}/transcriptions", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert listed["total"] == before + 1 and me["credit_balance"] == balance - 1
    assert listed["transcriptions"][0]["filename"] == JFK.name


def test_errors_raise_the_sdks_classes(server: LiveServer, tmp_path: Path) -> None:
    base = f"{server.url}/v1"
    bad = openai.OpenAI(api_key="tft_pat_not-a-real-token", base_url=base, max_retries=0)
    with JFK.open("rb") as fh, pytest.raises(openai.AuthenticationError) as auth:
        bad.audio.transcriptions.create(model="whisper-1", file=fh)
    assert auth.value.body["type"] == "invalid_request_error"  # type: ignore[index]

    client = openai.OpenAI(api_key=server.new_token(), base_url=base, max_retries=0)
    too_long = write_tone(tmp_path / "eleven-minutes.flac", 601.0, rate=8000)
    with too_long.open("rb") as fh, pytest.raises(openai.BadRequestError) as long_error:
        client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert long_error.value.code == "track_too_long"
    text = tmp_path / "notes.mp3"
    text.write_bytes(b"this is not audio\n" * 200)
    with text.open("rb") as fh, pytest.raises(openai.BadRequestError) as not_audio:
        client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert not_audio.value.body["param"] == "file"  # type: ignore[index]
    with JFK.open("rb") as fh, pytest.raises(openai.NotFoundError) as no_model:
        client.audio.transcriptions.create(model="whisper-9", file=fh)
    assert no_model.value.code == "model_not_found"
    with JFK.open("rb") as fh, pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(
            model="whisper-1", file=fh, response_format="json", timestamp_granularities=["word"]
        )


def test_no_credits_is_the_sdks_rate_limit_error_and_is_not_retried(
    tmp_path: Path, model_cache: Path
) -> None:
    env = {"TFT_SIGNUP_CREDITS": "0", "TFT_INLINE_WORKERS": "0"}
    with live_server(tmp_path, model_cache, env) as broke_server:
        broke = openai.OpenAI(
            api_key=broke_server.new_token(), base_url=f"{broke_server.url}/v1", max_retries=2
        )
        began = time.monotonic()
        with JFK.open("rb") as fh, pytest.raises(openai.RateLimitError) as quota:
            broke.audio.transcriptions.create(model="whisper-1", file=fh)
        assert quota.value.code == "insufficient_quota"
        assert quota.value.response.headers["x-should-retry"] == "false"
        assert time.monotonic() - began < 5  # the SDK did not back off and retry


def test_api_v1_keeps_the_envelope(server: LiveServer) -> None:
    r = httpx.get(f"{server.api}/me", headers={"Authorization": "Bearer nope"})
    assert set(r.json()["error"]) == {"code", "message", "details"}
    r = httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer nope"})
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_wer_matches_the_api_v1_path(server: LiveServer, token: str, client: Any) -> None:
    """The same clips through the SDK and through /api/v1: the same words."""
    headers = {"Authorization": f"Bearer {token}"}
    figures: dict[str, dict[str, float]] = {}
    for clip in CLIPS:
        began = time.monotonic()
        with clip.open("rb") as fh:
            sdk_text = client.audio.transcriptions.create(
                model="whisper-1", file=fh, response_format="text"
            )
        sdk_seconds = time.monotonic() - began
        began = time.monotonic()
        with clip.open("rb") as fh:
            job = httpx.post(
                f"{server.api}/transcriptions", headers=headers, files={"file": fh}, timeout=60
            ).json()
        while (
            status := httpx.get(
                f"{server.api}/transcriptions/{job['job_id']}", headers=headers
            ).json()["status"]
        ) not in ("done", "error", "cancelled"):
            time.sleep(0.2)
        assert status == "done"
        v1_text = httpx.get(
            f"{server.api}/transcriptions/{job['job_id']}/export",
            params={"format": "txt"},
            headers=headers,
        ).text
        v1_seconds = time.monotonic() - began
        reference = _reference(clip)
        figures[clip.name] = {
            "sdk_wer": round(word_error_rate(reference, sdk_text), 4),
            "v1_wer": round(word_error_rate(reference, v1_text), 4),
            "sdk_s": round(sdk_seconds, 2),
            "v1_s": round(v1_seconds, 2),
        }
        assert figures[clip.name]["sdk_wer"] == figures[clip.name]["v1_wer"], figures
    print(json.dumps({"openai_sdk_vs_api_v1": figures}))
