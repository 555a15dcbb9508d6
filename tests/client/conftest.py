"""Live servers shared by the client's tests.

Two real ``tft serve`` processes, each started once for the whole tests/client
package: ``speech_server`` transcribes (one inline worker, the bundled Whisper
base); ``idle_server`` runs no workers and grants no sign-up credits, so its jobs
stay pending (for the active-job limit) and its accounts start broke (for 402).
Every test makes its own account, so tests do not see each other's jobs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audio import TESTDATA, write_tone
from live import LiveServer, live_server

JFK = TESTDATA / "en" / "jfk_whisper.flac"
JFK_TEXT = TESTDATA / "en" / "jfk_whisper.txt"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="package")
def speech_server(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("speech"), model_cache) as server:
        yield server


@pytest.fixture(scope="package")
def idle_server(
    tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> Iterator[LiveServer]:
    env = {"TFT_INLINE_WORKERS": "0", "TFT_SIGNUP_CREDITS": "0"}
    with live_server(tmp_path_factory.mktemp("idle"), model_cache, extra_env=env) as server:
        yield server


@pytest.fixture(scope="package")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of a sine: real audio the server admits, for jobs that never run."""
    return write_tone(tmp_path_factory.mktemp("audio") / "tone.wav", 2.0)


@pytest.fixture
def jfk() -> Path:
    if not JFK.is_file():
        pytest.skip("../shared/testdata is absent")
    return JFK
