"""Plain data passed between engines, line building, post-processing and exports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    # Whisper's word text keeps its leading space (" hello"); joining words rebuilds the line.
    text: str
    # None: the engine gave no probability (OpenAI's verbose_json words carry none);
    # the quality check then leaves the word out instead of reading it as certain.
    probability: float | None = 1.0


@dataclass(frozen=True)
class Segment:
    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default=())


@dataclass(frozen=True)
class EngineSegment:
    """A segment as the recogniser returned it, with the statistics the quality check reads.

    A statistic is None when the engine did not report it (a remote server may leave
    any of them out): unknown, which the quality check neither trusts nor penalises.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default=())
    avg_logprob: float | None = 0.0
    no_speech_prob: float | None = 0.0
    compression_ratio: float | None = 1.0


@dataclass(frozen=True)
class Transcript:
    language: str
    language_probability: float
    duration_seconds: float
    segments: tuple[EngineSegment, ...]
    # The model that really ran, as the job reports it (e.g. "whisper-base").
    model: str
    engine: str
    # Seconds of audio the voice detector passed to the decoder (faster-whisper's
    # duration_after_vad); None when no detector ran or the engine does not say. Kept
    # against the voiced seconds, it tells a song whose singing the speech detector
    # dropped from speech it kept whole.
    vad_kept_seconds: float | None = None

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]
