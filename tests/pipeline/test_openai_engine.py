"""The OpenAI-compatible engine's pure parts: the 25 MB decision, Retry-After and backoff,
verbose_json -> Transcript (with and without statistics) and how unknown statistics pass
through the quality check; the settings that choose it and keep its key hidden.

The engine against real servers is tests/test_openai_engine_live.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio import write_tone
from textfromtrack.config import Settings, masked_settings
from textfromtrack.pipeline import quality
from textfromtrack.pipeline.engines import select
from textfromtrack.pipeline.engines.base import AudioInput
from textfromtrack.pipeline.engines.openai import (
    MAX_UPLOAD_BYTES,
    OpenAIEngine,
    backoff_seconds,
    needs_reencode,
    retry_after_seconds,
    transcript_from_verbose_json,
)
from textfromtrack.pipeline.languages import language_code
from textfromtrack.pipeline.runner import transcript_lines

MB = 1024 * 1024

# --- the 25 MB decision ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "extension", "reencode"),
    [
        (20 * MB, ".wav", False),  # within the limit, a container OpenAI reads: as is
        (MAX_UPLOAD_BYTES, ".flac", False),  # exactly 25 MB is not over it
        (MAX_UPLOAD_BYTES + 1, ".flac", True),
        (30 * MB, ".wav", True),
        (99 * MB, ".MP3", True),
        (1 * MB, ".MP3", False),  # extensions compare without case
        (1 * MB, ".m4a", False),
        (1 * MB, ".ogg", False),
        (1 * MB, ".webm", False),
        (1 * MB, ".aiff", True),  # we accept these; OpenAI's endpoint does not
        (1 * MB, ".wma", True),
        (1 * MB, ".opus", True),
        (1 * MB, ".aac", True),
    ],
)
def test_needs_reencode(size: int, extension: str, reencode: bool) -> None:
    assert needs_reencode(size, extension) is reencode


# --- Retry-After and backoff ----------------------------------------------------------

NOW = datetime(2026, 5, 8, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": " 7 "}, 7.0),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"Retry-After": "Fri, 08 May 2026 10:00:12"}, 12.0),  # no zone: GMT, as RFC 9110
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "250"}, 0.25),  # OpenAI's own header wins
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "x", "Retry-After": "9"}, 9.0),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    got = retry_after_seconds(headers, NOW)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("retry", "retry_after", "jitter", "expected"),
    [
        (0, None, 0.0, 1.0),  # base
        (1, None, 0.0, 2.0),  # doubling
        (2, None, 0.0, 4.0),
        (9, None, 0.0, 60.0),  # capped at max_wait
        (0, None, 1.0, 0.75),  # jitter takes up to a quarter off
        (2, None, 0.5, 3.5),
        (0, 5.0, 1.0, 5.0),  # Retry-After as given, no jitter
        (3, 60.0, 0.0, 60.0),  # the longest allowed wait is still waited
        (0, 61.0, 0.0, None),  # longer than max_wait: give up now
        (0, 0.0, 0.0, 0.0),
    ],
)
def test_backoff_seconds(
    retry: int, retry_after: float | None, jitter: float, expected: float | None
) -> None:
    got = backoff_seconds(retry, retry_after, base=1.0, max_wait=60.0, jitter=jitter)
    assert got == (None if expected is None else pytest.approx(expected))


# --- verbose_json -> Transcript -------------------------------------------------------

WITH_STATS: dict[str, Any] = {
    "task": "transcribe",
    "language": "english",
    "duration": 11.02,
    "text": "And so my fellow Americans, ask not.",
    "segments": [
        {
            "id": 0,
            "seek": 0,
            "start": 0.0,
            "end": 3.5,
            "text": " And so my fellow Americans,",
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": -0.25,
            "compression_ratio": 1.1,
            "no_speech_prob": 0.01,
        },
        {
            "id": 1,
            "start": 3.9,
            "end": 12.5,  # past the audio: clamped to its duration
            "text": " ask not.",
            "avg_logprob": -0.4,
            "compression_ratio": 0.9,
            "no_speech_prob": 0.02,
        },
    ],
    "words": [
        {"word": "And", "start": 0.0, "end": 0.4},
        {"word": "so", "start": 0.4, "end": 0.7},
        {"word": "my", "start": 0.7, "end": 1.0},
        {"word": "fellow", "start": 1.0, "end": 1.6},
        {"word": "Americans", "start": 1.6, "end": 3.4},
        {"word": "ask", "start": 3.9, "end": 4.4},
        {"word": "not", "start": 4.4, "end": 12.2},
    ],
}


def _without_stats(body: dict[str, Any]) -> dict[str, Any]:
    keys = {"avg_logprob", "compression_ratio", "no_speech_prob"}
    return {
        **body,
        "segments": [{k: v for k, v in s.items() if k not in keys} for s in body["segments"]],
    }


def test_mapping_with_statistics() -> None:
    t = transcript_from_verbose_json(WITH_STATS, model="whisper-1", duration=11.0)
    assert (t.language, t.engine, t.model, t.duration_seconds) == ("en", "openai", "whisper-1", 11)
    first, second = t.segments
    assert (first.start, first.end, second.start, second.end) == (0.0, 3.5, 3.9, 11.0)
    assert (first.avg_logprob, first.compression_ratio, first.no_speech_prob) == (-0.25, 1.1, 0.01)
    # Words go to the segment they start in, spelt as the segment writes them (punctuation
    # kept, so lines still break at sentence ends) and with no made-up probability.
    assert [w.text for w in first.words] == [" And", " so", " my", " fellow", " Americans,"]
    assert [w.text for w in second.words] == [" ask", " not."]
    assert second.words[-1].end == 11.0
    assert all(w.probability is None for w in t.words)
    assert [line.text for line in transcript_lines(t)] == [
        "And so my fellow Americans,",
        "ask not.",
    ]


def test_mapping_without_statistics_leaves_them_unknown() -> None:
    t = transcript_from_verbose_json(_without_stats(WITH_STATS), model="whisper-1")
    assert t.duration_seconds == pytest.approx(11.02)  # no duration of ours: the server's
    assert all(
        s.avg_logprob is None and s.no_speech_prob is None and s.compression_ratio is None
        for s in t.segments
    )


@pytest.mark.parametrize(
    ("body", "asked", "language", "model"),
    [
        ({"language": "english"}, None, "en", "whisper-1"),
        ({"language": "Chinese"}, None, "zh", "whisper-1"),
        ({"language": "fr"}, None, "fr", "whisper-1"),  # some servers answer the code
        ({}, "de", "de", "whisper-1"),  # none in the answer: the one asked for
        ({"language": "klingon"}, None, "und", "whisper-1"),
        ({"model": "whisper-large-v3-turbo"}, None, "und", "whisper-large-v3-turbo"),
    ],
)
def test_mapping_language_and_model(
    body: dict[str, Any], asked: str | None, language: str, model: str
) -> None:
    t = transcript_from_verbose_json(
        {"text": "", **body}, model="whisper-1", duration=1.0, language=asked
    )
    assert (t.language, t.model) == (language, model)


def test_words_without_segments_make_one_segment() -> None:
    body = {"language": "english", "text": "And so.", "words": WITH_STATS["words"][:2]}
    (segment,) = transcript_from_verbose_json(body, model="m", duration=5.0).segments
    assert (segment.start, segment.end, segment.text) == (0.0, 0.7, "And so.")
    assert [w.text for w in segment.words] == [" And", " so."]
    assert segment.avg_logprob is None


def test_text_alone_and_nothing_at_all() -> None:
    (only,) = transcript_from_verbose_json({"text": "Hi."}, model="m", duration=2.0).segments
    assert (only.start, only.end, only.text, only.words) == (0.0, 2.0, "Hi.", ())
    assert transcript_from_verbose_json({"text": ""}, model="m", duration=2.0).segments == ()


def test_unspaced_languages_join_words_as_they_are() -> None:
    body = {
        "language": "chinese",
        "segments": [{"start": 0.0, "end": 1.0, "text": "你好。"}],
        "words": [
            {"word": "你", "start": 0.0, "end": 0.5},
            {"word": "好", "start": 0.5, "end": 1.0},
        ],
    }
    t = transcript_from_verbose_json(body, model="m", duration=1.0)
    assert [w.text for w in t.words] == ["你", "好"]


def test_words_that_do_not_pair_with_the_text_keep_their_own_spelling() -> None:
    body = {
        "segments": [{"start": 0.0, "end": 2.0, "text": " Don't stop"}],
        "words": [
            {"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4}
            for i, w in enumerate(["Do", "n't", "stop"])
        ],
    }
    t = transcript_from_verbose_json(body, model="m", duration=2.0)
    assert [w.text for w in t.words] == [" Do", " n't", " stop"]


def test_garbage_numbers_read_as_unknown() -> None:
    body = {
        "segments": [
            {
                "start": "x",
                "end": None,
                "text": " hi",
                "avg_logprob": "NaN",
                "no_speech_prob": True,
                "compression_ratio": float("inf"),
            }
        ]
    }
    (segment,) = transcript_from_verbose_json(body, model="m", duration=3.0).segments
    assert (segment.start, segment.end) == (0.0, 0.0)
    assert segment.avg_logprob is segment.no_speech_prob is segment.compression_ratio is None


# --- unknown statistics through the quality check ---------------------------------------


def _speech_body(logprob: float | None) -> dict[str, Any]:
    lines = [
        "And so my fellow Americans, ask not what your country can do for you.",
        "Ask what you can do for your country.",
        "My fellow citizens of the world, ask not what America will do for you.",
    ]
    segments = []
    for n, line in enumerate(lines):
        segment: dict[str, Any] = {"start": n * 4.0, "end": n * 4.0 + 3.8, "text": " " + line}
        if logprob is not None:
            segment |= {"avg_logprob": logprob, "compression_ratio": 1.2, "no_speech_prob": 0.01}
        segments.append(segment)
    return {"language": "english", "segments": segments}


@pytest.mark.parametrize(
    ("logprob", "poor", "confidence"),
    [
        (-0.3, False, 1.0),  # sure
        (-1.4, True, pytest.approx(1 / 12)),  # unsure: low_confidence
        (None, False, quality.UNKNOWN_CONFIDENCE),  # not reported: neither
    ],
)
def test_unknown_statistics_are_neither_trusted_nor_penalised(
    logprob: float | None, poor: bool, confidence: Any
) -> None:
    t = transcript_from_verbose_json(_speech_body(logprob), model="m", duration=12.0)
    conf = quality.confidence(t)
    assert quality.confidence_score(conf) == confidence
    report = quality.assess(t, 12.0)
    assert report.poor is poor
    assert ("avg_logprob" in report.metrics) is (logprob is not None)
    assert "mean_word_probability" not in report.metrics  # verbose_json has no word probabilities


def test_unknown_ranks_between_sure_and_unsure() -> None:
    def score(logprob: float | None) -> float:
        t = transcript_from_verbose_json(_speech_body(logprob), model="m", duration=12.0)
        return quality.assess(t, 12.0).score

    assert score(-0.2) > score(None) > score(-0.95)


# --- choosing the engine; the key stays hidden ----------------------------------------


def test_tft_engine_openai_chooses_the_remote_engine_for_standard_attempts(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        engine="openai",
        openai_base_url="http://127.0.0.1:9/v1",
        openai_api_key="sk-test-1234567890",  # type: ignore[arg-type]
        openai_model="whisper-large",
        openai_max_retries=4,
        openai_timeout_seconds=42,
    )
    engine = select.standard_engine(settings)
    assert isinstance(engine, OpenAIEngine)
    assert (engine.name, engine.model_name) == ("openai", "whisper-large")
    assert engine.config.api_key == "sk-test-1234567890"
    assert (engine.config.max_retries, engine.config.timeout_seconds) == (4, 42)


def test_the_key_is_never_shown(tmp_path: Path) -> None:
    key = "sk-live-abcdef0123456789"
    settings = Settings(
        data_dir=tmp_path,
        engine="openai",
        openai_api_key=key,  # type: ignore[arg-type]
        openai_base_url="https://user:hunter2@proxy.example/v1",
    )
    shown = masked_settings(settings)
    assert shown["openai_api_key"] == "********"
    assert shown["openai_base_url"] == "https://user:********@proxy.example/v1"
    assert all(key not in v and "hunter2" not in v for v in shown.values())
    assert key not in repr(settings) and key not in str(settings.model_dump())
    assert masked_settings(Settings(data_dir=tmp_path))["openai_api_key"] == "None"


@pytest.mark.parametrize(
    ("given", "code"),
    [("english", "en"), ("EN", "en"), ("cantonese", "yue"), ("haitian creole", "ht"), ("", None)],
)
def test_language_code(given: str, code: str | None) -> None:
    assert language_code(given) == code


# --- the engine input -----------------------------------------------------------------


def test_audio_input_decodes_once_on_first_use(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "tone.flac", 2.0, rate=44_100)
    source = AudioInput(path)
    assert not source.decoded
    samples = source.samples
    assert source.decoded and source.samples is samples  # kept, not decoded again
    assert source.duration_seconds == pytest.approx(2.0, abs=0.01)
    source.release()
    assert not source.decoded and source.path == path
    stem = np.zeros(16_000, dtype=np.float32)
    wrapped = AudioInput.of(stem)
    assert wrapped.path is None and wrapped.samples is stem and AudioInput.of(wrapped) is wrapped
    wrapped.release()  # samples with no file to decode again are kept
    assert wrapped.decoded
