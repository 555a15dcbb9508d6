"""What the vintage attempt's engine hears: the vocal stem with a share of the mix
blended back (``blend_mix``), while the voice is measured on the stem alone."""

from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from textfromtrack.config import Settings
from textfromtrack.jobs.processing import upload_plan
from textfromtrack.pipeline import chinese, quality, runner
from textfromtrack.pipeline.engines.base import AudioInput, ProgressCallback, TranscribeOptions
from textfromtrack.pipeline.separation.base import SeparationProgress, StereoAudio
from textfromtrack.pipeline.separation.stem import blend_mix
from textfromtrack.pipeline.types import EngineSegment, Transcript, Word


def _a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


@pytest.mark.parametrize(
    ("stem", "mix", "share", "heard"),
    [
        (_a(1, 1, 1), _a(0, 0, 0), 0.0, _a(1, 1, 1)),  # 0: the stem itself
        (_a(1, 1, 1), _a(0, 0, 0), 0.25, _a(0.75, 0.75, 0.75)),
        (_a(0, 0, 0), _a(1, -1, 1), 0.5, _a(0.5, -0.5, 0.5)),
        (_a(0.2, 0.4), _a(1, 1), 0.15, _a(0.32, 0.49)),
        (_a(1, 1, 1, 1), _a(1, 1), 0.5, _a(1, 1, 0.5, 0.5)),  # a shorter mix: silence after it
        (_a(1, 1), _a(1, 1, 9, 9), 0.5, _a(1, 1)),  # a longer one: cut at the stem's end
        (_a(), _a(1), 0.5, _a()),
    ],
)
def test_blend_mix(stem: np.ndarray, mix: np.ndarray, share: float, heard: np.ndarray) -> None:
    out = blend_mix(stem, mix, share)
    assert out.dtype == np.float32 and out.shape == stem.shape
    np.testing.assert_allclose(out, heard, atol=1e-6)


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        blend_mix(_a(1), _a(1), share)


def test_the_share_is_a_validated_setting() -> None:
    assert Settings().vintage_mix_share == 0.15
    assert upload_plan(Settings(vintage_mix_share=0.3)).vintage_mix_share == 0.3
    with pytest.raises(ValueError):
        Settings(vintage_mix_share=1.0)


class HalfSeparator:
    """Vocals are half the input: the engine can tell the stem from the blend."""

    name = "half"
    sample_rate = 16_000

    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        return audio * np.float32(0.5)


class ListeningEngine:
    """Remembers the loudness of what it was given; hears one word."""

    name = model_name = "listening"

    def __init__(self) -> None:
        self.heard_rms: float | None = None

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        samples = audio.samples
        self.heard_rms = float(np.sqrt(np.mean(samples**2)))
        word = Word(0.5, 1.0, " la", 0.9)
        segment = EngineSegment(0.5, 1.0, " la", (word,), avg_logprob=-0.2)
        return Transcript("es", 0.9, audio.duration_seconds, (segment,), "listening", "listening")


def _tone(path: Path, seconds: float = 4.0, rate: int = 16_000) -> tuple[Path, float]:
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.4 * np.sin(2 * np.pi * 440 * t)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((tone * 32767).astype(np.int16).tobytes())
    return path, float(np.sqrt(np.mean(tone**2)))


def _plan(share: float, lyrics: str | None = None) -> runner.JobPlan:
    return runner.JobPlan(
        vintage=True,
        retry_when_poor=False,
        standard_options=TranscribeOptions(),
        vintage_options=TranscribeOptions(),
        pinyin=False,
        chinese_script=chinese.as_script("original"),
        lyrics=lyrics,
        vintage_mix_share=share,
    )


@pytest.mark.parametrize(("share", "gain"), [(0.0, 0.5), (0.15, 0.575), (0.5, 0.75)])
def test_the_engine_hears_the_blend_and_the_voice_is_measured_on_the_stem(
    tmp_path: Path, share: float, gain: float
) -> None:
    path, mix_rms = _tone(tmp_path / "song.wav")
    engine = ListeningEngine()
    attempt = runner.vintage_attempt(
        1, path, HalfSeparator(), engine, TranscribeOptions(), mix_share=share
    )
    assert engine.heard_rms == pytest.approx(gain * mix_rms, rel=0.01)
    stem = AudioInput(path).samples * np.float32(0.5)
    assert attempt.report.metrics["voice_seconds"] == pytest.approx(quality.voice_seconds(stem))
    assert attempt.stages["decode"] >= 0 and attempt.stages["separate"] >= 0


@pytest.mark.parametrize(
    ("lyrics", "share", "used"),
    [(None, 0.15, 0.15), ("", 0.15, 0.15), ("la la", 0.15, 0.0), (None, 0.0, 0.0)],
)
def test_a_job_with_lyrics_aligns_on_the_stem_alone(
    lyrics: str | None, share: float, used: float
) -> None:
    assert runner.stem_mix_share(_plan(share, lyrics)) == used


def test_a_vintage_job_runs_with_its_plans_share(tmp_path: Path) -> None:
    path, mix_rms = _tone(tmp_path / "song.wav")
    engine = ListeningEngine()
    engines = runner.Engines(lambda: engine, lambda: engine, lambda: HalfSeparator())
    outcome = runner.run(path, _plan(0.5), engines)
    assert engine.heard_rms == pytest.approx(0.75 * mix_rms, rel=0.01)
    # attempts_log says what the engine heard
    assert [e["mix_share"] for e in outcome.attempts_log] == [0.5]
    outcome = runner.run(path, replace(_plan(0.5), lyrics="la"), engines)
    assert engine.heard_rms == pytest.approx(0.5 * mix_rms, rel=0.01)
    assert [e["mix_share"] for e in outcome.attempts_log] == [0.0]
