"""The recogniser interface. Engines import nothing from FastAPI or the database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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
    """How one attempt is decoded. The defaults are faster-whisper's own, which are
    right for speech; the music path (vocal stems) gets its own values from Settings
    (``jobs.processing.job_plan``), measured on the lyrics dev set."""

    language: str | None = None  # ISO 639-1; None detects it
    word_timestamps: bool = True
    vad_filter: bool = True
    # Silero speech probability that counts as voice (faster-whisper's 0.5 for speech;
    # sung vowels score lower, so the music path uses less).
    vad_threshold: float = 0.5
    # Silence that ends a voiced stretch (2 s for speech; shorter splits songs at
    # instrumental breaks, where Whisper otherwise hallucinates).
    vad_min_silence_ms: int = 2000
    # Voiced stretches shorter than this are dropped; padding kept around each one.
    vad_min_speech_ms: int = 0
    vad_speech_pad_ms: int = 400
    beam_size: int = 5
    condition_on_previous_text: bool = True
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    no_speech_threshold: float = 0.6
    # A window whose text gzips better than this is a loop and is decoded again at the
    # next rung of ``temperature`` (Whisper's 2.4); None never retries for it.
    compression_ratio_threshold: float | None = 2.4
    # A window whose mean token log-probability is below this is decoded again (-1.0).
    log_prob_threshold: float | None = -1.0
    # With word timestamps: skip silent stretches longer than this many seconds around
    # a likely hallucination (faster-whisper's option; None, its default, is off).
    hallucination_silence_threshold: float | None = None
    # Decode only these (start, end) seconds, instead of what the voice detector keeps
    # (the vocal stem's own sung regions, ``vocal_activity``); None: the detector's.
    clip_regions: tuple[tuple[float, float], ...] | None = None
    # Tokens (text) fed as context to the first window, e.g. to steer toward lyrics.
    initial_prompt: str | None = None
    # 0 decodes window after window. Above 0: voice-detected chunks of up to 30 s are
    # decoded this many at a time (faster-whisper's BatchedInferencePipeline), each
    # without the previous window's text and with the first temperature only.
    batch_size: int = 0
    # "transcribe" keeps the spoken language; "translate" writes English (Whisper's task).
    task: str = "transcribe"


class AudioInput:
    """What an engine transcribes: the audio as 16 kHz mono samples and, when it came
    from a file, that file.

    A local engine reads ``samples``; a remote one sends ``path`` (the upload as it
    was stored, so nothing is decoded only to be encoded again). The samples are
    decoded from the file on first use and kept, so the pipeline (which measures the
    voice energy on them) and the engine share one decode.
    """

    def __init__(self, path: Path | None = None, samples: Audio | None = None) -> None:
        if path is None and samples is None:
            raise ValueError("AudioInput needs a file, samples, or both")
        self.path = path
        self._samples = samples
        self._lock = threading.Lock()

    @classmethod
    def of(cls, audio: AudioInput | Audio) -> AudioInput:
        """``audio`` as an AudioInput: samples alone (a vocal stem, a test) are wrapped."""
        return audio if isinstance(audio, AudioInput) else cls(samples=audio)

    @property
    def samples(self) -> Audio:
        with self._lock:
            if self._samples is None:
                assert self.path is not None
                # Imported here: a remote engine's process may never need FFmpeg's decoder.
                from textfromtrack.media.decode import decode_audio

                self._samples = decode_audio(self.path, SAMPLE_RATE, 1)
            return self._samples

    @property
    def decoded(self) -> bool:
        return self._samples is not None

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def release(self) -> None:
        """Drop the decoded samples (ten minutes are 38 MB) once nobody needs them."""
        with self._lock:
            if self.path is not None:
                self._samples = None


class Engine(Protocol):
    name: str  # e.g. "faster-whisper"
    model_name: str  # what the job reports, e.g. "whisper-base"

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript: ...
