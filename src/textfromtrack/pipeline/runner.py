"""The transcription pipeline for one upload, free of HTTP and the database.

Stages: decode -> recognise -> rebuild lines. ``checkpoint`` runs between stages
so a cancelled job stops at the next boundary; ``progress`` may also abort.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textfromtrack.media.decode import decode_audio
from textfromtrack.pipeline.engines.base import (
    SAMPLE_RATE,
    Engine,
    ProgressCallback,
    TranscribeOptions,
)
from textfromtrack.pipeline.lines import reindex, segments_from_words
from textfromtrack.pipeline.types import Segment, Transcript


@dataclass(frozen=True)
class RunResult:
    transcript: Transcript
    segments: list[Segment]
    seconds: float


def transcript_lines(transcript: Transcript) -> list[Segment]:
    """Lyric-sized lines from word timings, or the engine's segments when it gave no words."""
    words = transcript.words
    if words:
        return segments_from_words(words)
    return reindex(
        Segment(index=0, start=s.start, end=s.end, text=s.text.strip())
        for s in transcript.segments
        if s.text.strip()
    )


def run_standard(
    audio_path: Path,
    engine: Engine,
    options: TranscribeOptions,
    progress: ProgressCallback | None = None,
    checkpoint: Callable[[], None] = lambda: None,
) -> RunResult:
    started = time.perf_counter()
    checkpoint()
    audio = decode_audio(audio_path, SAMPLE_RATE, 1)
    checkpoint()
    transcript = engine.transcribe(audio, options, progress)
    checkpoint()
    return RunResult(transcript, transcript_lines(transcript), time.perf_counter() - started)
