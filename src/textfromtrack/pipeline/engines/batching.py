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


@dataclass(frozen=True)
class BatchPolicy:
    """Batch audio at least ``min_seconds`` long, ``batch_size`` chunks at a time.

    The chunks are cut where the attempt's own voice detector settings say: the batched
    pipeline decodes each chunk on its own, so where they are cut matters more than when
    decoding window after window. The standard path's are Silero's speech defaults
    (0.5, 2 s): with the lyrics ones (0.35, 1 s) the 10-minute speech track's WER went
    from 0.0052 sequential to 0.0124 batched; with these, 0.0059 (0.44x the time).
    """

    min_seconds: float  # 0 never batches
    batch_size: int

    @property
    def enabled(self) -> bool:
        return self.min_seconds > 0 and self.batch_size > 0

    def options_for(self, options: TranscribeOptions, seconds: float) -> TranscribeOptions:
        """``options`` for audio of this length; an explicit batch size is kept."""
        if options.batch_size or not self.enabled or seconds < self.min_seconds:
            return options
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
