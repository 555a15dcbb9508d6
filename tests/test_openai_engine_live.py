"""The OpenAI-compatible engine (TFT_ENGINE=openai) against real servers, over sockets.

Instance A is a plain `tft serve` (the local model); its /v1/audio/transcriptions is the
OpenAI-compatible server. Instance B1 runs TFT_ENGINE=openai pointed straight at A with
one of A's personal access tokens as the key. Instance B2 points at `Upstream`, a tiny
real HTTP server in this process that records what it receives and, per call, forwards
it to A, answers a canned verbose_json, or answers an error (429 with Retry-After, 500):
how the sizes B sends are seen on the wire, and how B retries and gives up.
"""

from __future__ import annotations

import hashlib
import threading
import time
import wave
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from audio import TESTDATA, write_tone
from live import LiveServer, free_port, live_server
from textfromtrack.pipeline.scoring import word_error_rate

JFK = TESTDATA / "en" / "jfk_whisper.flac"
needs_jfk = pytest.mark.skipif(not JFK.is_file(), reason=f"shared test clip not found at {JFK}")
MB = 1024 * 1024

# --- the recording upstream -----------------------------------------------------------


@dataclass
class Call:
    path: str
    filename: str
    content_type: str
    size: int
    sha256: str
    fields: list[tuple[str, str]]
    authorization: str
    at: float


@dataclass
class Reply:
    """What Upstream answers one call with: ``forward`` (to A), ``canned``, or a status."""

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


CANNED: dict[str, Any] = {
    "task": "transcribe",
    "language": "english",
    "duration": 3.0,
    "text": "Canned words arrive.",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.2,
            "end": 2.4,
            "text": " Canned words arrive.",
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.01,
        }
    ],
    "words": [
        {"word": "Canned", "start": 0.2, "end": 0.8},
        {"word": "words", "start": 0.9, "end": 1.5},
        {"word": "arrive", "start": 1.6, "end": 2.4},
    ],
}


class Upstream:
    """An OpenAI-compatible server in a thread: uvicorn on a free port, one script of replies."""

    def __init__(self, target: str) -> None:
        self.target = target  # A's origin, for "forward"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.calls: list[Call] = []
        self.script: deque[Reply] = deque()
        app = Starlette(routes=[Route("/v1/audio/{endpoint}", self._answer, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="upstream", daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test upstream did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def expect(self, *replies: Reply) -> None:
        self.calls.clear()
        self.script = deque(replies)

    async def _answer(self, request: Request) -> Response:
        form = await request.form(max_part_size=4 * MB)
        upload = form["file"]
        assert isinstance(upload, UploadFile)
        data = await upload.read()
        fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        self.calls.append(
            Call(
                path=request.url.path,
                filename=upload.filename or "",
                content_type=upload.content_type or "",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                fields=fields,
                authorization=request.headers.get("authorization", ""),
                at=time.monotonic(),
            )
        )
        reply = self.script.popleft() if self.script else Reply("forward")
        if reply.kind == "canned":
            return JSONResponse(CANNED)
        if reply.kind == "status":
            body = {"error": {"message": f"test upstream says {reply.status}", "type": "x"}}
            return JSONResponse(body, status_code=reply.status, headers=reply.headers)
        async with httpx.AsyncClient(timeout=300) as client:
            forwarded = await client.post(
                f"{self.target}{request.url.path}",
                headers={"Authorization": request.headers.get("authorization", "")},
                data=_grouped(fields),
                files={"file": (upload.filename or "audio", data, upload.content_type)},
            )
        return Response(
            forwarded.content,
            status_code=forwarded.status_code,
            media_type=forwarded.headers.get("content-type"),
        )


def _grouped(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in fields:
        out.setdefault(key, []).append(value)
    return out


# --- the three servers ----------------------------------------------------------------


@dataclass
class Fleet:
    a: LiveServer
    b1: LiveServer  # TFT_ENGINE=openai -> A
    b2: LiveServer  # TFT_ENGINE=openai -> Upstream
    upstream: Upstream
    a_token_b1: str  # A's tokens, B1's and B2's keys (two A accounts)
    a_token_b2: str


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("openai-engine")
    common = {"TFT_SIGNUP_CREDITS": "10"}
    with live_server(root / "a", model_cache, common) as a:
        a_token_b1, a_token_b2 = a.new_token(), a.new_token()
        engine = {
            **common,
            "TFT_ENGINE": "openai",
            # Fast retries for the tests; the defaults are 1 s doubling.
            "TFT_OPENAI_RETRY_BASE_SECONDS": "0.2",
            "TFT_OPENAI_TIMEOUT_SECONDS": "300",
        }
        with Upstream(a.url) as upstream:
            b1_env = {
                **engine,
                "TFT_OPENAI_BASE_URL": f"{a.url}/v1",
                "TFT_OPENAI_API_KEY": a_token_b1,
            }
            b2_env = {
                **engine,
                "TFT_OPENAI_BASE_URL": f"{upstream.url}/v1",
                "TFT_OPENAI_API_KEY": a_token_b2,
            }
            with (
                live_server(root / "b1", model_cache, b1_env) as b1,
                live_server(root / "b2", model_cache, b2_env) as b2,
            ):
                yield Fleet(a, b1, b2, upstream, a_token_b1, a_token_b2)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _submit(server: LiveServer, token: str, path: Path) -> dict[str, Any]:
    """Submit over /api/v1 and poll until the job is final; returns the job."""
    with httpx.Client(base_url=server.api, headers=_auth(token), timeout=120) as c:
        with path.open("rb") as fh:
            r = c.post("/transcriptions", files={"file": (path.name, fh)})
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 300
        while True:
            job: dict[str, Any] = c.get(f"/transcriptions/{job_id}").json()
            if job["status"] in {"done", "error", "cancelled"}:
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)


def _get(server: LiveServer, token: str, path: str) -> Any:
    r = httpx.get(f"{server.api}{path}", headers=_auth(token), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _write_wav(path: Path, megabytes: float, rate: int = 44_100) -> float:
    """A 16-bit stereo WAV of about ``megabytes`` (a 440 Hz tone); returns its seconds."""
    frames = int(megabytes * MB) // 4
    t = np.arange(rate, dtype=np.float64) / rate
    second = (0.3 * 32767 * np.sin(2 * np.pi * 440.0 * t)).astype("<i2")
    mono = np.tile(second, frames // rate + 1)[:frames]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(mono, 2).tobytes())
    return frames / rate


# --- B -> A directly ------------------------------------------------------------------


@needs_jfk
def test_a_job_on_b_is_transcribed_by_a(fleet: Fleet) -> None:
    b_token = fleet.b1.new_token()
    a_before = _get(fleet.a, fleet.a_token_b1, "/me")["credit_balance"]
    job = _submit(fleet.b1, b_token, JFK)
    assert job["status"] == "done", job
    assert job["model"] == "whisper-1"  # verbose_json names no model: the one asked for
    assert job["language"] == "en" and job["attempts"] == 1 and not job["degraded"]
    (attempt,) = job["attempts_log"]
    assert (attempt["engine"], attempt["model"]) == ("openai", "whisper-1")
    b_lines = _get(fleet.b1, b_token, f"/transcriptions/{job['job_id']}/segments")["segments"]
    text = " ".join(s["text"] for s in b_lines)
    assert word_error_rate(JFK.with_suffix(".txt").read_text(), text) < 0.2, text

    # A ran it as an ordinary job of the account whose token B holds, and charged it.
    listed = _get(fleet.a, fleet.a_token_b1, "/transcriptions")
    assert listed["total"] == 1
    a_job = listed["transcriptions"][0]
    assert a_job["status"] == "done" and a_job["filename"] == "audio.flac"
    assert a_job["duration_seconds"] == pytest.approx(job["duration_seconds"], abs=0.05)
    assert _get(fleet.a, fleet.a_token_b1, "/me")["credit_balance"] == a_before - 1

    # B's lines are rebuilt from A's word timings the way A builds its own: the same lines.
    a_lines = _get(fleet.a, fleet.a_token_b1, f"/transcriptions/{a_job['job_id']}/segments")
    assert [s["text"] for s in b_lines] == [s["text"] for s in a_lines["segments"]]
    for ours, theirs in zip(b_lines, a_lines["segments"], strict=True):
        assert ours["start"] == pytest.approx(theirs["start"], abs=0.002)
        assert ours["end"] == pytest.approx(theirs["end"], abs=0.002)
    assert 0 <= b_lines[0]["start"] < b_lines[-1]["end"] <= job["duration_seconds"]


# --- what B sends: re-encoded over 25 MB, as is under it --------------------------------


def test_a_30_mb_wav_arrives_as_an_mp3_of_at_most_25_mb(fleet: Fleet, tmp_path: Path) -> None:
    wav = tmp_path / "long.wav"
    seconds = _write_wav(wav, 30)
    assert wav.stat().st_size > 30 * MB and seconds <= 600
    fleet.upstream.expect(Reply("forward"))
    job = _submit(fleet.b2, fleet.b2.new_token(), wav)
    assert job["status"] == "done", job
    (call,) = fleet.upstream.calls
    assert call.filename == "audio.mp3" and call.content_type == "audio/mpeg"
    assert call.size <= 25 * MB
    # 128 kb/s of audio, give or take the MP3 frames' padding.
    assert call.size == pytest.approx(seconds * 128_000 / 8, rel=0.05)
    a_job = _get(fleet.a, fleet.a_token_b2, "/transcriptions")["transcriptions"][0]
    assert a_job["filename"] == "audio.mp3" and a_job["status"] == "done"
    assert a_job["duration_seconds"] == pytest.approx(seconds, abs=0.1)
    assert job["duration_seconds"] == pytest.approx(seconds, abs=0.01)


def test_a_20_mb_wav_arrives_unchanged(fleet: Fleet, tmp_path: Path) -> None:
    wav = tmp_path / "medium.wav"
    seconds = _write_wav(wav, 20)
    fleet.upstream.expect(Reply("forward"))
    job = _submit(fleet.b2, fleet.b2.new_token(), wav)
    assert job["status"] == "done", job
    (call,) = fleet.upstream.calls
    assert (call.filename, call.content_type) == ("audio.wav", "audio/wav")
    assert call.size == wav.stat().st_size
    assert call.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert call.authorization == f"Bearer {fleet.a_token_b2}"
    fields = dict(call.fields)
    assert (fields["model"], fields["response_format"]) == ("whisper-1", "verbose_json")
    granularities = [v for k, v in call.fields if k == "timestamp_granularities[]"]
    assert sorted(granularities) == ["segment", "word"]
    a_job = _get(fleet.a, fleet.a_token_b2, "/transcriptions")["transcriptions"][0]
    assert a_job["filename"] == "audio.wav"
    assert a_job["duration_seconds"] == pytest.approx(seconds, abs=0.01)


def test_a_translation_goes_to_the_translations_endpoint(fleet: Fleet, tmp_path: Path) -> None:
    # B's own OpenAI surface in front, so the job asks for Whisper's translate task.
    clip = write_tone(tmp_path / "tone.flac", 3.0)
    fleet.upstream.expect(Reply("canned"))
    with clip.open("rb") as fh:
        r = httpx.post(
            f"{fleet.b2.url}/v1/audio/translations",
            headers=_auth(fleet.b2.new_token()),
            data={"model": "whisper-1", "prompt": "Canned words."},
            files={"file": ("tone.flac", fh)},
            timeout=120,
        )
    assert r.status_code == 200, r.text
    assert r.json() == {"text": "Canned words arrive."}
    (call,) = fleet.upstream.calls
    assert call.path == "/v1/audio/translations"
    fields = dict(call.fields)
    assert fields["prompt"] == "Canned words." and fields["temperature"] == "0"
    # OpenAI's translations take neither a language nor timestamp granularities.
    assert "language" not in fields and "timestamp_granularities[]" not in fields


# --- retries --------------------------------------------------------------------------


def test_a_429_is_retried_after_its_retry_after(fleet: Fleet, tmp_path: Path) -> None:
    clip = write_tone(tmp_path / "tone.flac", 3.0)
    token = fleet.b2.new_token()
    fleet.upstream.expect(Reply("status", 429, {"Retry-After": "1"}), Reply("canned"))
    job = _submit(fleet.b2, token, clip)
    assert job["status"] == "done", job
    first, second = fleet.upstream.calls
    assert second.at - first.at >= 1.0  # Retry-After, not the 0.2 s backoff
    assert second.sha256 == first.sha256  # the same file again
    lines = _get(fleet.b2, token, f"/transcriptions/{job['job_id']}/segments")["segments"]
    assert [(s["start"], s["end"], s["text"]) for s in lines] == [
        (0.2, 2.4, "Canned words arrive.")
    ]
    assert job["language"] == "en" and job["model"] == "whisper-1"


def test_three_500s_fail_the_job_and_refund_it(fleet: Fleet, tmp_path: Path) -> None:
    clip = write_tone(tmp_path / "tone.flac", 3.0)
    token = fleet.b2.new_token()
    before = _get(fleet.b2, token, "/me")["credit_balance"]
    fleet.upstream.expect(*[Reply("status", 500)] * 3, Reply("canned"))
    job = _submit(fleet.b2, token, clip)
    assert job["status"] == "error", job
    assert len(fleet.upstream.calls) == 3  # 1 + TFT_OPENAI_MAX_RETRIES (2)
    assert "answered 500: test upstream says 500" in job["error"]
    assert "gave up after 3 tries" in job["error"] and "refunded" in job["error"]
    assert job["credits_charged"] == 0
    assert _get(fleet.b2, token, "/me")["credit_balance"] == before


def test_x_should_retry_false_is_not_retried(fleet: Fleet, tmp_path: Path) -> None:
    # What another TextFromTrack says on a 5xx whose job already ran: a retry pays again.
    clip = write_tone(tmp_path / "tone.flac", 3.0)
    fleet.upstream.expect(Reply("status", 503, {"x-should-retry": "false"}), Reply("canned"))
    job = _submit(fleet.b2, fleet.b2.new_token(), clip)
    assert job["status"] == "error" and len(fleet.upstream.calls) == 1, job
    assert "answered 503" in job["error"]


def test_a_client_error_is_not_retried(fleet: Fleet, tmp_path: Path) -> None:
    clip = write_tone(tmp_path / "tone.flac", 3.0)
    fleet.upstream.expect(Reply("status", 401), Reply("canned"))
    job = _submit(fleet.b2, fleet.b2.new_token(), clip)
    assert job["status"] == "error" and len(fleet.upstream.calls) == 1, job
    assert "answered 401: test upstream says 401" in job["error"]


# --- last, so the logs it reads include every call above ------------------------------


def test_the_key_is_neither_shown_nor_logged(fleet: Fleet) -> None:
    shown = fleet.b1.cli("config").stdout
    assert "TFT_ENGINE=openai" in shown and "TFT_OPENAI_API_KEY=********" in shown
    assert fleet.a_token_b1 not in shown
    assert fleet.a_token_b1 not in fleet.b1.log()
    assert fleet.a_token_b2 not in fleet.b2.log()
