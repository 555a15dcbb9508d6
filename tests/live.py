"""A real `tft serve` process for tests that must talk to the service over a socket.

The client, the CLI, the examples and the browser tests all go through this: a
subprocess on a free port with its own data folder and SQLite database, so what
they exercise is exactly what a user runs (uvicorn, the inline worker, the real
model). Imported as ``live``; tests/ is on sys.path.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
TFT = Path(sys.executable).with_name("tft")


def free_port() -> int:
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


@contextmanager
def live_server(
    tmp_path: Path,
    model_cache: Path,
    extra_env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[LiveServer]:
    """Start `tft serve` on a free port and stop it (and check it stopped) afterwards."""
    data_dir = tmp_path / "live-data"
    data_dir.mkdir(parents=True, exist_ok=True)
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
        **(extra_env or {}),
    }
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(TFT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = LiveServer(
        url=f"http://127.0.0.1:{port}",
        data_dir=data_dir,
        env=env,
        log_path=log_path,
        process=process,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"tft serve exited with {process.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"tft serve did not become ready:\n{server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
