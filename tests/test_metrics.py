"""/metrics for real: a live `tft serve` runs real jobs (inline, and once through one
`tft worker` on a Redis of the test's own), uploads are refused for every reason
admission has, and the scrape, parsed with prometheus-client's own parser, shows the
counters and histograms moved; /readyz turns 503 when that Redis is stopped."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from audio import TESTDATA, write_tone
from live import LiveServer, free_port, live_server

sys.path.insert(0, str(Path(__file__).parent / "queue"))
from tft_fleet import start_worker

pytestmark = pytest.mark.slow

SPEECH = TESTDATA / "en" / "jfk_whisper.flac"
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(url: str, **headers: str) -> Samples:
    r = httpx.get(url, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v for have, v in samples.get(name, []) if all(have.get(k) == x for k, x in labels.items())
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("metrics-audio")
    return {
        "speech": SPEECH if SPEECH.is_file() else write_tone(folder / "speech.wav", 5.0),
        "short": write_tone(folder / "short.wav", 1.0),
        # Past the 600 s limit: refused as track_too_long (a tone compresses to little).
        "long": write_tone(folder / "long.flac", 601.0, rate=8000),
    }


def _submit(server: LiveServer, token: str, clip: Path, request_id: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    return httpx.post(
        f"{server.api}/transcriptions",
        headers=headers,
        files={"file": (clip.name, clip.read_bytes())},
        timeout=120,
    )


def _wait_done(server: LiveServer, token: str, job_id: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30) as http:
        while True:
            r = http.get(
                f"{server.api}/transcriptions/{job_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
            body = r.json()
            if body["status"] in {"done", "error", "cancelled"}:
                assert body["status"] == "done", body
                return body
            assert time.monotonic() < deadline, f"job {job_id} not done: {body}"
            time.sleep(0.3)


def _raw_upload(server: LiveServer, token: str, declared: int, sent: bytes) -> tuple[int, bytes]:
    """An upload that declares ``declared`` bytes and sends only ``sent``; the answer."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(
            (
                "POST /api/v1/transcriptions HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\n"
                "Content-Type: multipart/form-data; boundary=rawboundary\r\n"
                f"Content-Length: {declared}\r\n\r\n"
            ).encode()
            + sent
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = s.recv(65536)
            if not chunk:
                break
            response += chunk
    return int(response.split()[1]), response


def test_metrics_after_real_inline_jobs_and_refusals(
    tmp_path: Path, model_cache: Path, clips: dict[str, Path]
) -> None:
    env = {
        "TFT_SIGNUP_CREDITS": "1",
        "TFT_MAX_ACTIVE_JOBS_PER_USER": "1",
        "TFT_UPLOAD_TIMEOUT_SECONDS": "5",
        "TFT_WHISPER_CPU_THREADS": "1",
        # The default: jobs in a child process, their metrics still on the server's /metrics.
        "TFT_INLINE_ISOLATION": "process",
    }
    with live_server(tmp_path, model_cache, env) as server:
        first, second = server.new_token(), server.new_token()
        r = _submit(server, first, clips["speech"])
        assert r.status_code == 201, r.text
        job_id = r.json()["job_id"]
        # Refusals, one per reason admission has.
        busy = _submit(server, first, clips["short"])  # its one active job: 429 scope user
        assert busy.status_code == 429 and busy.json()["error"]["details"]["scope"] == "user"
        job = _wait_done(server, first, job_id)
        assert _submit(server, first, clips["short"]).status_code == 402  # its one credit spent
        assert _raw_upload(server, first, 200 * 1024 * 1024, b"")[0] == 413
        too_long = _submit(server, second, clips["long"])
        assert too_long.status_code == 400, too_long.text
        assert too_long.json()["error"]["code"] == "track_too_long"
        assert _raw_upload(server, second, 50_000, b"--rawboundary\r\n")[0] == 408
        head = httpx.head(
            f"{server.api}/transcriptions/{job_id}",
            headers={"Authorization": f"Bearer {first}"},
            timeout=30,
        )
        assert head.status_code == 200

        samples = scrape(f"{server.url}/metrics")
        assert "/metrics" not in httpx.get(f"{server.url}/openapi.json").json()["paths"]

    # HTTP by route template and status, never by raw path.
    route = "/api/v1/transcriptions/{job_id}"
    assert value(samples, "tft_http_requests_total", route=route, method="GET", status="200") >= 1
    assert value(samples, "tft_http_requests_total", route=route, method="HEAD") == 1
    assert value(samples, "tft_http_requests_total", route="/api/v1/transcriptions", status="201")
    assert value(samples, "tft_http_request_duration_seconds_count", route=route) >= 2
    buckets = [
        labels for labels, _ in samples["tft_http_request_duration_seconds_bucket"]
    ]  # a histogram, with its buckets
    assert {"+Inf", "0.1"} <= {labels["le"] for labels in buckets}
    for name, entries in samples.items():
        for labels, _ in entries:
            assert not any(UUID.search(v) for v in labels.values()), (name, labels)

    # Admission refusals by reason.
    for reason, status in (
        ("user", "429"),
        ("insufficient_credits", "402"),
        ("too_large", "413"),
        ("track_too_long", "400"),
        ("upload_timeout", "408"),
    ):
        got = value(samples, "tft_admission_refusals_total", reason=reason, status=status)
        assert got == 1, (reason, samples.get("tft_admission_refusals_total"))

    # Jobs: by status from the database, the one that ran, its attempts and stages.
    assert value(samples, "tft_jobs", status="done") == 1
    assert value(samples, "tft_jobs", status="pending") == 0
    assert {labels["queue"] for labels, _ in samples["tft_queue_depth"]} == {
        "standard",
        "vintage",
    }
    assert value(samples, "tft_jobs_claimed_total") == 1
    assert value(samples, "tft_jobs_finished_total", status="done", mode="standard") == 1
    assert value(samples, "tft_job_duration_seconds_count") == 1
    assert value(samples, "tft_job_duration_seconds_sum") == pytest.approx(
        job["runtime_seconds"], abs=0.01
    )
    assert value(samples, "tft_job_turnaround_seconds_count") == 1
    assert value(samples, "tft_job_real_time_factor_count") == 1
    assert value(samples, "tft_job_audio_seconds_total") > 0
    attempts = job["attempts"]
    assert value(samples, "tft_attempts_total") == attempts
    assert value(samples, "tft_attempts_total", verdict="accepted") == 1
    assert value(samples, "tft_attempt_duration_seconds_count") == attempts
    for stage in ("decode", "recognise", "postprocess"):
        assert value(samples, "tft_stage_duration_seconds_count", stage=stage) >= 1, stage
    assert value(samples, "process_cpu_seconds_total") > 0


def test_metrics_can_be_switched_off_or_need_a_token(tmp_path: Path, model_cache: Path) -> None:
    with live_server(tmp_path / "off", model_cache, {"TFT_METRICS_ENABLED": "false"}) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
    with live_server(tmp_path / "token", model_cache, {"TFT_METRICS_TOKEN": "s3cret"}) as server:
        refused = httpx.get(f"{server.url}/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        samples = scrape(f"{server.url}/metrics", Authorization="Bearer s3cret")
        assert "tft_jobs" in samples


@contextlib.contextmanager
def own_redis(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own, so it can be stopped without touching anyone else's."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "redis did not start"
        time.sleep(0.1)
    try:
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def _wait_metrics(url: str, timeout: float = 60) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(url)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"no metrics at {url}"
            time.sleep(0.2)


def test_worker_metrics_on_redis_and_readiness_when_the_broker_goes(
    tmp_path: Path, model_cache: Path, clips: dict[str, Path]
) -> None:
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0:
        pytest.skip("redis-server is not installed")
    with own_redis(tmp_path / "redis") as (redis_url, redis_process):
        env = {"TFT_BROKER_URL": redis_url, "TFT_WHISPER_CPU_THREADS": "1"}
        with live_server(tmp_path, model_cache, env) as server:
            ready = httpx.get(f"{server.url}/readyz").json()
            assert ready["broker"] == "ok" and ready["storage"] == "ok"
            metrics_port = free_port()
            worker = start_worker(
                tmp_path / "worker", server.env, "metrics", "--metrics-port", str(metrics_port)
            )
            try:
                before = _wait_metrics(f"http://127.0.0.1:{metrics_port}/metrics")
                assert value(before, "tft_broker_up") == 1
                token = server.new_token()
                r = _submit(server, token, clips["speech"])
                assert r.status_code == 201, r.text
                job = _wait_done(server, token, r.json()["job_id"])
                worker_samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
            finally:
                worker.stop()
            serve_samples = scrape(f"{server.url}/metrics")

            redis_process.terminate()
            redis_process.wait(timeout=10)
            down = httpx.get(f"{server.url}/readyz", timeout=30)
            assert down.status_code == 503, down.text
            error = down.json()["error"]
            assert error["code"] == "internal_error" and "broker" in error["details"]
            assert value(scrape(f"{server.url}/metrics"), "tft_broker_up") == 0

    # The worker's processes counted the job; its own scrape adds them up.
    assert value(worker_samples, "tft_jobs_claimed_total") == 1
    assert value(worker_samples, "tft_jobs_finished_total", status="done") == 1
    assert value(worker_samples, "tft_job_duration_seconds_count") == 1
    assert value(worker_samples, "tft_job_real_time_factor_count") == 1
    assert value(worker_samples, "tft_attempts_total") == job["attempts"]
    assert value(worker_samples, "tft_stage_duration_seconds_count", stage="recognise") >= 1
    assert value(worker_samples, "tft_queue_depth", queue="standard") == 0
    # The server ran no job (no inline workers) but sees the database and the broker.
    assert value(serve_samples, "tft_jobs_claimed_total") == 0
    assert value(serve_samples, "tft_jobs", status="done") == 1
    assert value(serve_samples, "tft_broker_up") == 1
    assert {labels["queue"] for labels, _ in serve_samples["tft_queue_depth"]} == {
        "standard",
        "vintage",
    }


def test_a_server_can_stay_ready_while_its_broker_is_down(
    tmp_path: Path, model_cache: Path
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {"TFT_BROKER_URL": f"redis://127.0.0.1:{closed}/0", "TFT_READY_NEEDS_BROKER": "false"}
    with live_server(tmp_path, model_cache, env) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["broker"] == "unreachable"
        assert value(scrape(f"{server.url}/metrics"), "tft_broker_up") == 0
