"""Helpers for the queue tests: where the machine's Redis and RabbitMQ are, and `tft worker`
subprocesses. (Not a conftest.py: tests/queue cannot be a package, whose name would hide
the standard library's ``queue``, so its modules are imported by their own names.)"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from live import TFT

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
