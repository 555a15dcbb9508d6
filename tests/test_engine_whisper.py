"""The faster-whisper engine on the real bundled Whisper base and real recordings.

The recordings live in the shared test-data folder beside the checkout; without it
the module is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from textfromtrack.pipeline.engines.base import SAMPLE_RATE, Engine, TranscribeOptions
from textfromtrack.pipeline.engines.faster_whisper import FasterWhisperEngine, get_engine
from textfromtrack.pipeline.scoring import word_error_rate
from textfromtrack.pipeline.types import Transcript

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = (ROOT / ".." / "shared" / "testdata").resolve()
if not TESTDATA.is_dir():
    pytest.skip(f"test recordings not found at {TESTDATA}", allow_module_level=True)

pytestmark = pytest.mark.slow

EN_CLIPS = [
    "en/jfk_whisper.flac",  # 44.1 kHz stereo: exercises the resampler
    "en/librispeech_dev-clean_1272-128104-0000.wav",
    "en/librispeech_dev-clean_2412-153948-0000.flac",
]
ZH_CLIP = "zh/aishell1_BAC009S0724W0121.wav"


def decode(path: Path) -> npt.NDArray[np.float32]:
    """16 kHz mono float32, the engine's input."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[npt.NDArray[Any]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32, copy=False)


@dataclass
class Run:
    transcript: Transcript
    progress: list[float]
    duration: float


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> FasterWhisperEngine:
    return get_engine("base", "cpu", "int8", model_cache)


@pytest.fixture(scope="module")
def runs(engine: FasterWhisperEngine) -> dict[str, Run]:
    """Each clip transcribed once, shared by the assertions below."""
    out: dict[str, Run] = {}
    for clip in [*EN_CLIPS, ZH_CLIP]:
        audio = decode(TESTDATA / clip)
        seen: list[float] = []
        transcript = engine.transcribe(audio, TranscribeOptions(), seen.append)
        out[clip] = Run(transcript, seen, len(audio) / SAMPLE_RATE)
    return out


def test_engine_satisfies_the_protocol(engine: FasterWhisperEngine) -> None:
    as_protocol: Engine = engine
    assert as_protocol.name == "faster-whisper"
    assert as_protocol.model_name == "whisper-base"
    assert (engine.device, engine.compute_type) == ("cpu", "int8")


def test_get_engine_loads_each_model_once(engine: FasterWhisperEngine, model_cache: Path) -> None:
    assert get_engine("base", "cpu", "int8", model_cache) is engine


@pytest.mark.parametrize("clip", EN_CLIPS)
def test_english_clip(runs: dict[str, Run], clip: str) -> None:
    run = runs[clip]
    t = run.transcript
    reference = (TESTDATA / clip).with_suffix(".txt").read_text()
    hypothesis = "".join(s.text for s in t.segments)
    wer = word_error_rate(reference, hypothesis, "en")
    print(f"{clip}: WER {wer:.3f} | {hypothesis.strip()}")
    assert wer < 0.10, hypothesis

    assert t.language == "en"
    assert t.language_probability > 0.5
    assert t.model == "whisper-base"
    assert t.engine == "faster-whisper"
    assert t.duration_seconds == pytest.approx(run.duration, abs=0.05)

    words = t.words
    assert words, "word timestamps requested but none returned"
    # Whisper's leading space is kept so that joining words rebuilds the text.
    assert all(w.text.startswith(" ") for w in words)
    assert "".join(w.text for w in words) == hypothesis
    for w in words:
        assert 0.0 <= w.start <= w.end <= t.duration_seconds
        assert 0.0 <= w.probability <= 1.0
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    for seg in t.segments:
        assert 0.0 <= seg.start <= seg.end <= t.duration_seconds
        assert seg.avg_logprob < 0.0 and 0.0 <= seg.no_speech_prob <= 1.0


@pytest.mark.parametrize("clip", [*EN_CLIPS, ZH_CLIP])
def test_progress_rises_to_one(runs: dict[str, Run], clip: str) -> None:
    seen = runs[clip].progress
    assert seen and seen == sorted(seen)
    assert all(0.0 <= p <= 1.0 for p in seen)
    assert seen[-1] == pytest.approx(1.0)


def test_chinese_clip(runs: dict[str, Run]) -> None:
    t = runs[ZH_CLIP].transcript
    reference = (TESTDATA / ZH_CLIP).with_suffix(".txt").read_text()
    hypothesis = "".join(s.text for s in t.segments).strip()
    # Base may answer in traditional characters, so the CER is reported, not asserted.
    print(f"{ZH_CLIP}: CER {word_error_rate(reference, hypothesis, 'zh'):.3f} | {hypothesis}")
    assert t.language == "zh"
    assert hypothesis


def test_a_given_language_skips_detection(engine: FasterWhisperEngine) -> None:
    audio = decode(TESTDATA / EN_CLIPS[1])
    t = engine.transcribe(audio, TranscribeOptions(language="en", word_timestamps=False))
    assert t.language == "en" and t.language_probability == 1.0
    assert t.words == []
    assert (
        word_error_rate(
            (TESTDATA / EN_CLIPS[1]).with_suffix(".txt").read_text(),
            "".join(s.text for s in t.segments),
        )
        < 0.10
    )


class Cancelled(Exception):
    pass


def test_raising_from_progress_aborts_and_the_engine_stays_usable(
    engine: FasterWhisperEngine,
) -> None:
    audio = decode(TESTDATA / EN_CLIPS[2])
    calls: list[float] = []

    def cancel(fraction: float) -> None:
        calls.append(fraction)
        raise Cancelled

    with pytest.raises(Cancelled):
        engine.transcribe(audio, TranscribeOptions(), cancel)
    assert len(calls) == 1

    short = decode(TESTDATA / "en/librispeech_test-clean_2830-3980-0043.wav")
    t = engine.transcribe(short, TranscribeOptions(language="en", beam_size=1))
    assert word_error_rate("EXPERIENCE PROVES THIS", "".join(s.text for s in t.segments)) == 0.0


def test_silence_gives_no_segments_and_full_progress(engine: FasterWhisperEngine) -> None:
    seen: list[float] = []
    t = engine.transcribe(
        np.zeros(SAMPLE_RATE * 2, dtype=np.float32), TranscribeOptions(), seen.append
    )
    assert t.segments == ()
    assert t.duration_seconds == pytest.approx(2.0)
    assert seen == [1.0]


def test_rejects_multichannel_audio(engine: FasterWhisperEngine) -> None:
    with pytest.raises(ValueError, match="mono"):
        engine.transcribe(np.zeros((2, 1600), dtype=np.float32), TranscribeOptions())


# --- batched decoding (BatchedInferencePipeline), used on long audio ---------------------


def test_batched_decoding_keeps_words_language_and_statistics(
    engine: FasterWhisperEngine,
) -> None:
    """About 50 s of speech in two chunks and more, decoded two chunks at a time."""
    clips = [*EN_CLIPS, "en/librispeech_test-clean_1995-1837-0001.wav", *EN_CLIPS[1:]]
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([part for c in clips for part in (decode(TESTDATA / c), gap)])
    reference = " ".join((TESTDATA / c).with_suffix(".txt").read_text() for c in clips)
    seen: list[float] = []
    t = engine.transcribe(audio, TranscribeOptions(batch_size=2), seen.append)
    hypothesis = "".join(s.text for s in t.segments)
    wer = word_error_rate(reference, hypothesis, "en")
    print(f"batched: {len(t.segments)} segments, WER {wer:.3f}")
    assert wer < 0.10, hypothesis
    assert t.language == "en" and t.language_probability > 0.5  # detected, not assumed
    # One segment per voiced chunk of up to 30 s, not per sentence.
    assert 2 <= len(t.segments) <= 6
    words = t.words
    assert "".join(w.text for w in words) == hypothesis
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= t.duration_seconds for w in words)
    # The statistics the quality check reads.
    for seg in t.segments:
        assert seg.avg_logprob < 0.0 and 0.0 <= seg.no_speech_prob <= 1.0
        assert 0.0 < seg.compression_ratio < 2.4
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_batched_decoding_of_silence_is_empty(engine: FasterWhisperEngine) -> None:
    silence = np.zeros(SAMPLE_RATE * 40, dtype=np.float32)
    t = engine.transcribe(silence, TranscribeOptions(batch_size=4))
    assert t.segments == ()
