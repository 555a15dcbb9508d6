"""Logs a fleet can read: with TFT_LOG_FORMAT=json every line of a live `tft serve` (and of
a `tft worker`) is one JSON object, and one job's events, from submit to done, carry its
job id and the request id it was submitted with, across processes too."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from audio import TESTDATA, write_tone
from live import LiveServer, live_server
from textfromtrack import logs

sys.path.insert(0, str(Path(__file__).parent / "queue"))
from tft_fleet import REDIS_URL, reachable, start_worker

SPEECH = TESTDATA / "en" / "jfk_whisper.flac"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if SPEECH.is_file():
        return SPEECH
    return write_tone(tmp_path_factory.mktemp("logs-audio") / "speech.wav", 5.0)


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line, each of which must be one JSON object."""
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]
    for entry in parsed:
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
    return parsed


def _submit_and_wait(server: LiveServer, clip: Path, request_id: str) -> str:
    token = server.new_token()
    r = httpx.post(
        f"{server.api}/transcriptions",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
        files={"file": (clip.name, clip.read_bytes())},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == request_id
    job_id = str(r.json()["job_id"])
    deadline = time.monotonic() + 300
    while True:
        body = httpx.get(
            f"{server.api}/transcriptions/{job_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        if body["status"] in {"done", "error", "cancelled"}:
            assert body["status"] == "done", body
            return job_id
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


def _events(entries: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("job_id") == job_id and "event" in e]


def _wait_for_event(read: Any, job_id: str, event: str, timeout: float = 30) -> None:
    """The last line of a run may reach the log a moment after the API says done."""
    deadline = time.monotonic() + timeout
    while not any(e["event"] == event for e in _events(_json_lines(read()), job_id)):
        assert time.monotonic() < deadline, f"no {event} line for job {job_id}"
        time.sleep(0.2)


def test_one_jobs_json_lines_from_submit_to_done_carry_its_ids(
    tmp_path: Path, model_cache: Path, speech: Path
) -> None:
    request_id = f"logs-{uuid.uuid4().hex[:12]}"
    # The default isolation: the job's lines come from the child process, with its ids.
    env = {"TFT_LOG_FORMAT": "json", "TFT_INLINE_ISOLATION": "process"}
    with live_server(tmp_path, model_cache, env) as server:
        job_id = _submit_and_wait(server, speech, request_id)
        _wait_for_event(server.log, job_id, "done")
        entries = _json_lines(server.log())

    events = _events(entries, job_id)
    names = [e["event"] for e in events]
    assert names[:2] == ["accepted", "claimed"] and names[-1] == "done", names
    assert "attempt" in names
    for entry in events:
        assert entry["request_id"] == request_id, entry
        assert entry["message"].startswith(f"job {job_id} ")
    attempt = next(e for e in events if e["event"] == "attempt")
    assert attempt["model"] and attempt["verdict"] in {"accepted", "rejected"}
    assert attempt["seconds"] > 0 and "recognise" in attempt["stages"]
    done = events[-1]
    assert done["seconds"] > 0 and done["real_time_factor"] > 0 and done["model"]
    # The request's other lines (uvicorn's access line for the upload) carry it too.
    assert any(
        e.get("request_id") == request_id and "POST /api/v1/transcriptions" in e["message"]
        for e in entries
    )


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    if not reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_the_worker_lines_carry_the_request_id_of_the_submit(
    tmp_path: Path, model_cache: Path, speech: Path, redis_prefix: str
) -> None:
    env = {
        "TFT_LOG_FORMAT": "json",
        "TFT_BROKER_URL": REDIS_URL,
        "TFT_QUEUE_PREFIX": redis_prefix,
        "TFT_WHISPER_CPU_THREADS": "1",
    }
    request_id = f"fleet-{uuid.uuid4().hex[:12]}"
    with live_server(tmp_path, model_cache, env) as server:
        worker = start_worker(tmp_path / "worker", server.env, "logs")
        try:
            job_id = _submit_and_wait(server, speech, request_id)
            _wait_for_event(worker.log, job_id, "done")
        finally:
            worker.stop()
        served = _events(_json_lines(server.log()), job_id)
    worked = _events(_json_lines(worker.log()), job_id)

    assert [e["event"] for e in served] == ["accepted"]
    names = [e["event"] for e in worked]
    assert names[0] == "claimed" and names[-1] == "done" and "attempt" in names, names
    for entry in served + worked:
        assert entry["request_id"] == request_id, entry
    assert worked[0]["worker"].split(":")[2].startswith("dramatiq-")


def test_text_lines_end_with_the_bound_ids() -> None:
    # The handler logs.configure() puts on the root logger, on a logger of the test's own.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("text"))
    handler.addFilter(logs.ContextFilter())
    log = logging.getLogger(f"textfromtrack.test.{uuid.uuid4().hex[:8]}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.info("outside any job")
    with logs.job_context("job-1", "req-1"):
        logs.job_event(log, "claimed", "job-1", "claimed by %s", "w1", worker="w1")
    log.info("after it")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith(": outside any job")
    assert lines[1].endswith("job job-1 claimed by w1 [job_id=job-1 request_id=req-1]")
    assert lines[2].endswith(": after it")
