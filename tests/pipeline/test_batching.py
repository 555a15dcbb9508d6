"""The batched-decoding policy (pure) and its wiring from Settings into the engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from textfromtrack.config import Settings
from textfromtrack.pipeline.engines import select
from textfromtrack.pipeline.engines.base import TranscribeOptions
from textfromtrack.pipeline.engines.batching import NEVER, BatchingEngine, BatchPolicy

POLICY = BatchPolicy(min_seconds=120, batch_size=4)


@pytest.mark.parametrize(
    ("policy", "seconds", "asked", "expected"),
    [
        (POLICY, 119.9, 0, 0),  # short: sequential, as asked
        (POLICY, 120.0, 0, 4),  # from the threshold on: batched
        (POLICY, 600.0, 0, 4),
        (POLICY, 600.0, 2, 2),  # an explicit batch size wins
        (POLICY, 10.0, 8, 8),
        (NEVER, 600.0, 0, 0),  # disabled
        (BatchPolicy(min_seconds=0, batch_size=4), 600.0, 0, 0),  # 0 s: never batches
    ],
)
def test_options_for(policy: BatchPolicy, seconds: float, asked: int, expected: int) -> None:
    options = TranscribeOptions(batch_size=asked, beam_size=3)
    chosen = policy.options_for(options, seconds)
    assert chosen.batch_size == expected
    assert chosen.beam_size == 3  # nothing else changes
    # The voice detector's settings are the attempt's own (speech or music).
    assert (chosen.vad_threshold, chosen.vad_min_silence_ms) == (0.5, 2000)


def test_batched_chunks_keep_the_attempts_voice_detector() -> None:
    music = TranscribeOptions(vad_threshold=0.35, vad_min_silence_ms=1000)
    chosen = BatchPolicy(min_seconds=300, batch_size=4).options_for(music, 600.0)
    assert (chosen.batch_size, chosen.vad_threshold, chosen.vad_min_silence_ms) == (4, 0.35, 1000)


@pytest.mark.parametrize(
    ("env", "standard", "vintage"),
    [
        ({}, BatchPolicy(300, 4), NEVER),
        (
            {"vintage_batched_decoding": True},
            BatchPolicy(300, 4),
            BatchPolicy(300, 4),
        ),
        (
            {"batched_decoding_min_seconds": 0, "batched_decoding_batch_size": 8},
            BatchPolicy(0, 8),
            NEVER,
        ),
    ],
)
def test_policy_from_settings(
    tmp_path: Path, env: dict[str, object], standard: BatchPolicy, vintage: BatchPolicy
) -> None:
    settings = Settings(data_dir=tmp_path, **env)  # type: ignore[arg-type]
    assert select.batch_policy(settings) == standard
    assert select.batch_policy(settings, vintage=True) == vintage


def test_the_worker_engines_carry_the_policy(tmp_path: Path, model_cache: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, model_cache_dir=model_cache, whisper_device="cpu", vintage_model="base"
    )
    standard = select.standard_engine(settings)
    vintage = select.vintage_engine(settings)
    assert isinstance(standard, BatchingEngine) and isinstance(vintage, BatchingEngine)
    assert standard.policy == BatchPolicy(300, 4) and vintage.policy == NEVER
    # One loaded model behind both: the wrapper holds no weights of its own.
    assert standard.inner is vintage.inner
    assert (standard.name, standard.model_name) == ("faster-whisper", "whisper-base")
