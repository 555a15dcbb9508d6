"""A real `tft serve` process for tests that must talk to the service over a socket.

The client, the CLI, the examples and the browser tests all go through this: a
subprocess on a free port with its own data folder and SQLite database, so what
they exercise is exactly what a user runs (uvicorn, the inline worker, the real
model). Imported as ``live``; tests/ is on sys.path.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
TFT = Path(sys.executable).with_name("tft")


# Ports are handed out below the kernel's ephemeral range (32768+ here), where no
# outgoing connection can take one between free_port() and the server's bind, and
# each xdist worker draws from its own block so parallel workers never race for one.
_PORT_LOW, _PORT_BLOCK, _PORT_BLOCKS = 10_000, 1_000, 22
_next_port: list[int] = []


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            # 0.0.0.0 conflicts with a listener on any IPv4 address, 127.0.0.1 included.
            s.bind(("0.0.0.0", port))  # noqa: S104 - bound for a moment, never listened on
        except OSError:
            return False
    return True


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw3" under xdist
    return int(worker[2:]) if worker[2:].isdigit() else _PORT_BLOCKS - 1


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, and not handed out twice by this process."""
    low = _PORT_LOW + (_worker_index() % _PORT_BLOCKS) * _PORT_BLOCK
    if not _next_port:
        # A random start keeps two concurrent runs of the suite apart on the same machine.
        _next_port.append(low + random.randrange(_PORT_BLOCK))
    for _ in range(_PORT_BLOCK):
        port = _next_port[0]
        _next_port[0] = low + (port + 1 - low) % _PORT_BLOCK
        if _port_is_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A running service; `url` is the origin, `api` the /api/v1 base."""

    url: str
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the operator CLI against this server's database and data folder."""
        done = subprocess.run(
            [str(TFT), *args], env=self.env, capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tft {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def register(self, email: str | None = None, password: str = PASSWORD) -> tuple[str, str]:
        """Sign up and log in over HTTP; returns (email, session JWT)."""
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        with httpx.Client(base_url=self.url, timeout=30) as c:
            r = c.post("/api/auth/register", json={"email": email, "password": password})
            assert r.status_code == 201, r.text
            r = c.post("/api/auth/login", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            return email, str(r.json()["access_token"])

    def token(self, jwt: str, scopes: list[str] | None = None, name: str = "test") -> str:
        """Create a personal access token through the web-session endpoint."""
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = scopes
        with httpx.Client(base_url=self.url, timeout=30) as c:
            r = c.post("/api/auth/tokens", json=body, headers={"Authorization": f"Bearer {jwt}"})
            assert r.status_code == 201, r.text
            return str(r.json()["token"])

    def new_token(self, extra_credits: int = 0, scopes: list[str] | None = None) -> str:
        """A fresh account with a token. It starts with TFT_SIGNUP_CREDITS (pass
        extra_env={"TFT_SIGNUP_CREDITS": "0"} for a server whose accounts start
        broke); `extra_credits` are granted on top through the operator CLI."""
        email, jwt = self.register()
        if extra_credits:
            self.cli("credits", "grant", email, str(extra_credits))
        return self.token(jwt, scopes)


def _spawn(
    tmp_path: Path,
    data_dir: Path,
    model_cache: Path,
    extra_env: Mapping[str, str] | None,
    command: Sequence[str] | None = None,
) -> LiveServer:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TFT_")},
        "TFT_DATA_DIR": str(data_dir),
        "TFT_DATABASE_URL": f"sqlite:///{data_dir / 'tft.db'}",
        "TFT_SECRET_KEY": "live-test-secret-key-that-is-long-enough",
        "TFT_MODEL_CACHE_DIR": str(model_cache),
        "TFT_HOST": "127.0.0.1",
        "TFT_PORT": str(port),
        "TFT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TFT_TOP_UP_URL": "https://example.com/top-up",
        "TFT_LOG_LEVEL": "INFO",
        # Nearly every live test signs up and logs in, at 0.2-0.5 s of CPU per production
        # hash here; tests/unit/test_passwords.py and test_password_profile.py keep the
        # production parameters.
        "TFT_PASSWORD_HASH_PROFILE": "cheapest",
        # A child process per server costs its own start-up (imports, model load): 15% more
        # time on the live tests. The child itself (TFT_INLINE_ISOLATION=process, the default)
        # is what test_isolation, test_logs' one-job test and test_metrics' inline-jobs test
        # run; every other live server runs its jobs in the serving process.
        "TFT_INLINE_ISOLATION": "thread",
        **(extra_env or {}),
    }
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command or [str(TFT), "serve"]), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return LiveServer(
        url=f"http://127.0.0.1:{env['TFT_PORT']}",
        data_dir=data_dir,
        env=env,
        log_path=log_path,
        process=process,
    )


def _wait_ready(server: LiveServer, deadline: float) -> bool:
    """True once /readyz answers 200; False if the process exited first."""
    with httpx.Client(timeout=2) as http:
        while True:
            if server.process.poll() is not None:
                return False
            try:
                if http.get(f"{server.url}/readyz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"tft serve did not become ready:\n{server.log()}")
            # Start-up takes a second or more; a short poll saves most of a step per start.
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def live_server(
    tmp_path: Path,
    model_cache: Path,
    extra_env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
    command: Sequence[str] | None = None,
) -> Iterator[LiveServer]:
    """Start `tft serve` (or ``command``, which must serve like it) on a free port and
    stop it (and check it stopped) afterwards."""
    data_dir = tmp_path / "live-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + startup_timeout
    for attempt in range(3):
        server = _spawn(tmp_path, data_dir, model_cache, extra_env, command)
        try:
            if _wait_ready(server, deadline):
                break
        except BaseException:
            _stop(server.process)
            raise
        # Another program on this machine may have taken the port after free_port()
        # checked it: try another one rather than fail the test.
        if "address already in use" not in server.log().lower() or attempt == 2:
            raise RuntimeError(
                f"tft serve exited with {server.process.returncode}:\n{server.log()}"
            )
    try:
        yield server
    finally:
        _stop(server.process)
