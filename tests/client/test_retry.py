"""Retries over a real socket.

The service answers 429 with Retry-After only to a POST (job admission), which
must not be retried, and never fails transiently on purpose; so what a retry of an
idempotent call does is checked against a small scripted HTTP server here. The
real 429 on submit is in test_errors.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from textfromtrack_client import (
    ConnectionFailed,
    InternalError,
    RateLimited,
    RetryPolicy,
    TextFromTrack,
    WaitTimeout,
)

from live import free_port

ME = {
    "user_id": "u1",
    "email": "you@example.com",
    "credit_balance": 3,
    "top_up_url": "https://example.com/top-up",
    "scopes_granted": ["transcriptions:read"],
}
JOB = {
    "job_id": "j1",
    "status": "pending",
    "filename": "a.mp3",
    "language": None,
    "duration_seconds": 1.0,
    "segment_count": None,
    "credits_charged": 1,
    "model": None,
    "degraded": False,
    "vocal_separation_used": False,
    "attempts": 0,
    "runtime_seconds": None,
    "created_at": "2026-05-08T10:00:00Z",
    "completed_at": None,
    "vintage_mode": False,
    "pinyin": False,
    "progress": 0.0,
    "attempts_log": [],
}
RATE_LIMITED = {"error": {"code": "rate_limited", "message": "Slow down.", "details": {}}}


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    """Replies handed out in order (the last one repeats), and what was asked."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[tuple[float, str, str]] = field(default_factory=list)

    def next(self, method: str, path: str) -> Reply:
        self.requests.append((time.monotonic(), method, path))
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def gaps(self) -> list[float]:
        times = [t for t, _, _ in self.requests]
        return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
def script() -> Iterator[tuple[Script, str]]:
    scripted = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            reply = scripted.next(self.command, self.path)
            payload = (
                reply.body.encode()
                if isinstance(reply.body, str)
                else json.dumps(reply.body).encode()
            )
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield scripted, f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fast(max_retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, backoff_base=0.1, backoff_max=1.0)


def test_a_429_is_retried_after_its_retry_after(
    script: tuple[Script, str], caplog: pytest.LogCaptureFixture
) -> None:
    scripted, url = script
    scripted.replies = [Reply(429, RATE_LIMITED, {"Retry-After": "1"}), Reply(200, ME)]
    caplog.set_level("INFO", logger="textfromtrack_client")
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft:
        assert tft.me().credit_balance == 3
    assert [(m, p) for _, m, p in scripted.requests] == [("GET", "/api/v1/me")] * 2
    (gap,) = scripted.gaps()
    assert 1.0 <= gap < 1.0 + 0.1 + 0.5  # the server's figure, plus at most backoff_base
    assert "HTTP 429; retry 1/3" in caplog.text


def test_gateway_errors_back_off_exponentially(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.replies = [Reply(503, "down"), Reply(502, "<html>bad gateway</html>"), Reply(200, JOB)]
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft:
        assert tft.get("j1").status == "pending"
    first, second = scripted.gaps()
    # Equal jitter: between half and all of 0.1 s, then of 0.2 s.
    assert 0.05 <= first < 0.1 + 0.15
    assert 0.1 <= second < 0.2 + 0.15


def test_retries_stop_after_max_retries(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.replies = [Reply(504, "<html>gateway timeout</html>")]
    with (
        TextFromTrack("tft_pat_x", url, retry=fast(max_retries=2)) as tft,
        pytest.raises(InternalError) as raised,
    ):
        tft.list()
    assert len(scripted.requests) == 3
    assert raised.value.status == 504 and "gateway timeout" in raised.value.message


def test_delete_is_idempotent_and_retried(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.replies = [Reply(503, ""), Reply(200, {**JOB, "status": "cancelled"})]
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft:
        assert tft.delete("j1").status == "cancelled"
    assert [m for _, m, _ in scripted.requests] == ["DELETE", "DELETE"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, RATE_LIMITED, {"Retry-After": "1"}), RateLimited),
        (Reply(503, "restarting"), InternalError),
    ],
)
def test_submit_is_never_retried(
    script: tuple[Script, str], tmp_path: Path, reply: Reply, error: type[Exception]
) -> None:
    scripted, url = script
    scripted.replies = [reply, Reply(201, {})]
    audio = tmp_path / "a.mp3"
    audio.write_bytes(b"ID3")
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft, pytest.raises(error):
        tft.submit(audio)
    assert [m for _, m, _ in scripted.requests] == ["POST"]


def test_other_errors_are_not_retried(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.replies = [Reply(500, {"error": {"code": "internal_error", "message": "boom"}})]
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft, pytest.raises(InternalError):
        tft.me()
    assert len(scripted.requests) == 1


def test_a_retry_after_beyond_the_policy_goes_to_the_caller(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.replies = [Reply(429, RATE_LIMITED, {"Retry-After": "3600"}), Reply(200, ME)]
    started = time.monotonic()
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft, pytest.raises(RateLimited) as raised:
        tft.me()
    assert time.monotonic() - started < 1
    assert raised.value.retry_after == 3600
    assert len(scripted.requests) == 1


def test_connection_failures_are_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1"  # nothing listens there
    caplog.set_level("INFO", logger="textfromtrack_client")
    with (
        TextFromTrack("tft_pat_x", url, retry=fast(max_retries=2)) as tft,
        pytest.raises(ConnectionFailed) as raised,
    ):
        tft.me()
    assert raised.value.code == "connection_error" and raised.value.status is None
    assert caplog.text.count("ConnectError") == 2


def test_wait_sleeps_for_the_retry_after_of_a_poll(script: tuple[Script, str]) -> None:
    scripted, url = script
    done = {**JOB, "status": "done", "progress": 1.0}
    scripted.replies = [Reply(200, JOB, {"Retry-After": "1"}), Reply(200, done)]
    started = time.monotonic()
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft:
        assert tft.wait("j1", timeout=30, poll_interval=20).status == "done"
    assert 1.0 <= time.monotonic() - started < 5  # not the 20 s poll interval


def test_wait_gives_up_at_its_timeout(script: tuple[Script, str]) -> None:
    scripted, url = script
    scripted.replies = [Reply(200, JOB)]
    started = time.monotonic()
    with TextFromTrack("tft_pat_x", url, retry=fast()) as tft, pytest.raises(WaitTimeout) as raised:
        tft.wait("j1", timeout=0.6, poll_interval=0.25)
    assert 0.6 <= time.monotonic() - started < 2
    assert raised.value.job.status == "pending" and raised.value.code == "wait_timeout"
    assert len(scripted.requests) >= 3
