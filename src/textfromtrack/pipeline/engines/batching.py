"""When to decode batched: long audio only, where it pays (``benchmarks/long_audio.py``).

faster-whisper's BatchedInferencePipeline decodes several 30 s chunks at once.
On short audio there is one chunk, so batching saves nothing and only drops the
sequential decoder's temperature fallback and previous-text conditioning; from
a few chunks on it is faster. On songs it lost words (all four test mixes), so
the default threshold sits above most songs. The Settings fields are read in ``select``;
``BatchingEngine`` applies them to any Engine, so callers pass options as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textfromtrack.pipeline.engines.base import (
    Audio,
    AudioInput,
    Engine,
    ProgressCallback,
    TranscribeOptions,
)
from textfromtrack.pipeline.types import Transcript

# Silero's own defaults, for speech. The batched pipeline decodes each voiced chunk
# on its own, so where the chunks are cut matters more than when decoding window after
# window: with the lyrics settings (0.35, 1 s) the 10-minute speech track's WER went
# from 0.0052 sequential to 0.0124 batched; with these, 0.0059 (0.51x the time).
SPEECH_VAD_THRESHOLD = 0.5
SPEECH_VAD_MIN_SILENCE_MS = 2000


@dataclass(frozen=True)
class BatchPolicy:
    """Batch audio at least ``min_seconds`` long, ``batch_size`` chunks at a time.

    ``speech_vad``: batched audio is cut with Silero's speech settings rather than the
    lyrics ones (the standard path, whose long audio is mostly speech; not the vocal
    stems of the vintage path).
    """

    min_seconds: float  # 0 never batches
    batch_size: int
    speech_vad: bool = False

    @property
    def enabled(self) -> bool:
        return self.min_seconds > 0 and self.batch_size > 0

    def options_for(self, options: TranscribeOptions, seconds: float) -> TranscribeOptions:
        """``options`` for audio of this length; an explicit batch size is kept."""
        if options.batch_size or not self.enabled or seconds < self.min_seconds:
            return options
        if self.speech_vad:
            options = replace(
                options,
                vad_threshold=SPEECH_VAD_THRESHOLD,
                vad_min_silence_ms=SPEECH_VAD_MIN_SILENCE_MS,
            )
        return replace(options, batch_size=self.batch_size)


NEVER = BatchPolicy(min_seconds=0, batch_size=0)


class BatchingEngine:
    """An Engine that decodes long audio batched and everything else as it was asked."""

    def __init__(self, inner: Engine, policy: BatchPolicy) -> None:
        self.inner = inner
        self.policy = policy
        self.name = inner.name
        self.model_name = inner.model_name

    def transcribe(
        self,
        audio: AudioInput | Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        source = AudioInput.of(audio)
        options = self.policy.options_for(options, source.duration_seconds)
        return self.inner.transcribe(source, options, progress)
