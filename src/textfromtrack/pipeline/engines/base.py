"""The recogniser interface. Engines import nothing from FastAPI or the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from textfromtrack.pipeline.types import Transcript

SAMPLE_RATE = 16_000
Audio = npt.NDArray[np.float32]  # mono, SAMPLE_RATE Hz, in [-1, 1]
# Called with the fraction of audio done (0..1); it may raise to abort the run.
ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # ISO 639-1; None detects it
    word_timestamps: bool = True
    vad_filter: bool = True
    # Silero speech probability that counts as voice; sung vocals score below speech.
    vad_threshold: float = 0.35
    beam_size: int = 5
    condition_on_previous_text: bool = True
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    no_speech_threshold: float = 0.6
    # Tokens (text) fed as context to the first window, e.g. to steer toward lyrics.
    initial_prompt: str | None = None
    # 0 decodes window after window. Above 0: voice-detected chunks of up to 30 s are
    # decoded this many at a time (faster-whisper's BatchedInferencePipeline), each
    # without the previous window's text and with the first temperature only.
    batch_size: int = 0
    # "transcribe" keeps the spoken language; "translate" writes English (Whisper's task).
    task: str = "transcribe"


class Engine(Protocol):
    name: str  # e.g. "faster-whisper"
    model_name: str  # what the job reports, e.g. "whisper-base"

    def transcribe(
        self,
        audio: Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...
