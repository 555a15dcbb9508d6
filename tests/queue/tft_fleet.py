"""Helpers for the queue tests: where the machine's Redis and RabbitMQ are, and `tft worker`
subprocesses. (Not a conftest.py: tests/queue cannot be a package, whose name would hide
the standard library's ``queue``, so its modules are imported by their own names.)"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from live import TFT, free_port

REDIS_URL = os.environ.get("TFT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("TFT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
BROKER_QUEUE_SUFFIXES = ("", ".DQ", ".XQ")


def reachable(url: str, default_port: int) -> bool:
    host_port = url.partition("://")[2].rpartition("@")[2].partition("/")[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or default_port)), 2):
            return True
    except OSError:
        return False


def require(available: bool, reason: str) -> None:
    """Skip when a service this test needs is missing, except under CI=true, where the
    services are guaranteed (.ci/run starts them), so a missing one is a failure."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def closed_port() -> int:
    """A port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WorkerProcess:
    """One `tft worker` (Dramatiq's main process and its worker process)."""

    process: subprocess.Popen[bytes]
    log_path: Path
    pgid: int = field(init=False)

    def __post_init__(self) -> None:
        self.pgid = os.getpgid(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        # Its own process group (start_new_session), so its Dramatiq children go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)  # a child left behind by a killed parent


def start_worker(
    folder: Path, env: Mapping[str, str], name: str, *args: str, ready_timeout: float = 120
) -> WorkerProcess:
    """Start `tft worker` and wait until its worker process consumes."""
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"worker-{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TFT), "worker", "--shutdown-timeout", "5", *args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(process, log_path)
    deadline = time.monotonic() + ready_timeout
    while "ready for action" not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"tft worker did not start:\n{worker.log()}")
        time.sleep(0.1)
    return worker


@contextlib.contextmanager
def tft_workers(
    folder: Path, env: Mapping[str, str], count: int, *args: str
) -> Iterator[list[WorkerProcess]]:
    workers: list[WorkerProcess] = []
    try:
        for n in range(count):
            workers.append(start_worker(folder, env, str(n), *args))
        yield workers
    finally:
        for worker in workers:
            worker.stop()


REDIS_SERVER = shutil.which("redis-server")


@dataclass
class RedisServer:
    """A private `redis-server` (no persistence) on a port of its own, so a test may kill
    and restart it without touching the machine's shared Redis."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        assert REDIS_SERVER, "no redis-server on PATH"
        self.starts += 1
        log = (self.folder / f"redis-{self.port}-{self.starts}.log").open("wb")
        with log:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--daemonize", "no",
                    "--dir", str(self.folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop it the hard way: every message it held is gone (it persists nothing)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[RedisServer]:
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.kill(signal.SIGTERM)


def drop_amqp_queues(url: str, prefix: str) -> None:
    """Delete a test's queues (and Dramatiq's delay and dead-letter ones) on RabbitMQ."""
    import pika  # type: ignore[import-untyped]

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for queue in ("standard", "vintage"):
            for suffix in BROKER_QUEUE_SUFFIXES:
                channel.queue_delete(f"{prefix}.{queue}{suffix}")
    finally:
        connection.close()
