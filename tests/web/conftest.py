"""Helpers for the web app's HTTP-level tests: a browser-like session and fake engines.

A `Browser` is the TestClient as the app's own pages use it: logged in through the
cookie, with the CSRF token read from a page's <meta> tag. Jobs are run with
`run_job`, which calls the real worker code with small fake engines, so the whole
lifecycle (quality check, retry, exports, kept audio) runs in milliseconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audio import write_tone
from support import PASSWORD
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs import processing
from textfromtrack.jobs.models import JobStatus
from textfromtrack.pipeline import runner
from textfromtrack.pipeline.engines.base import AudioInput, ProgressCallback, TranscribeOptions
from textfromtrack.pipeline.separation.base import SeparationProgress, StereoAudio
from textfromtrack.pipeline.types import EngineSegment, Transcript, Word

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class Browser:
    """A logged-in browser: the session cookie lives in the client's jar."""

    client: TestClient
    email: str
    csrf: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, **extra}

    def upload(self, path: Path, name: str | None = None, **form: str) -> Any:
        with path.open("rb") as fh:
            return self.client.post(
                "/api/web/jobs",
                files={"file": (name or path.name, fh, "application/octet-stream")},
                data=form,
                headers=self.headers(),
            )


def sign_up(client: TestClient, email: str | None = None) -> Browser:
    """Register and log in as the app's pages do; the cookie is now the credential."""
    email = email or f"web-{uuid.uuid4().hex[:8]}@example.com"
    client.cookies.clear()
    r = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert client.cookies.get("tft_session")
    return Browser(client=client, email=email, csrf=csrf_of(client.get("/app").text))


def csrf_of(html: str) -> str:
    found = META_CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@pytest.fixture
def browser(client: TestClient) -> Browser:
    return sign_up(client)


@pytest.fixture(scope="session")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("web-audio") / "tone.flac", 3.0)


# ---------------------------------------------------------------- fake engines

GOOD_LINES = ("and so my fellow Americans", "ask not what your country can do for you")
# One line over and over: the quality check's repetition-loop detector flags it.
LOOP_LINES = ("thank you for watching",) * 12


class FakeEngine:
    def __init__(self, model_name: str, lines: tuple[str, ...]) -> None:
        self.name = "fake-engine"
        self.model_name = model_name
        self.lines = lines

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        duration = audio.duration_seconds
        step = duration / max(1, len(self.lines))
        segments = []
        for n, line in enumerate(self.lines):
            start, end = n * step, (n + 1) * step
            texts = line.split()
            width = (end - start) / len(texts)
            words = tuple(
                Word(start + i * width, start + (i + 1) * width, f" {w}", 0.95)
                for i, w in enumerate(texts)
            )
            segments.append(EngineSegment(start, end, f" {line}", words, avg_logprob=-0.2))
        if progress is not None:
            progress(1.0)
        return Transcript("en", 0.99, duration, tuple(segments), self.model_name, self.name)


class FakeSeparator:
    name = "fake-separator"
    sample_rate = 44_100

    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        return audio


def fake_engines(standard: tuple[str, ...] = GOOD_LINES) -> runner.Engines:
    return runner.Engines(
        standard=lambda: FakeEngine("fake-standard", standard),
        vintage=lambda: FakeEngine("fake-vintage", GOOD_LINES),
        separator=lambda: FakeSeparator(),
    )


@pytest.fixture
def run_job(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """run_job(job_id, poor=False): process one job as a worker would, with fake engines."""

    def run(job_id: str, poor: bool = False) -> JobStatus | None:
        engines = fake_engines(LOOP_LINES if poor else GOOD_LINES)
        monkeypatch.setattr(processing, "engines", lambda _settings: engines)
        return processing.process_job(database, settings, job_id, "test-worker")

    yield run
