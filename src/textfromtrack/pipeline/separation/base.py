"""The vocal separator interface. Separators import nothing from FastAPI or the database."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

# Stereo float32 at the separator's own rate, shape (2, samples), in [-1, 1].
StereoAudio = npt.NDArray[np.float32]
# Called with the fraction done (0..1); it may raise to abort.
SeparationProgress = Callable[[float], None]


class SeparatorUnavailable(RuntimeError):
    """The separator's weights or code cannot be loaded here."""


class Separator(Protocol):
    name: str  # recorded in attempts_log, e.g. "spleeter-2stems" or "demucs-htdemucs"
    sample_rate: int  # what separate() expects and returns, e.g. 44100

    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        """The vocal stem of ``audio``, same shape and rate."""
        ...


@runtime_checkable
class StreamingSeparator(Separator, Protocol):
    """A separator that takes its input as a stream of chunks and hands out its stem as
    it goes, so memory does not grow with the track (Spleeter's blocks)."""

    def separate_stream(
        self,
        chunks: Iterable[StereoAudio],
        progress: SeparationProgress | None = None,
        expected_samples: int | None = None,
    ) -> Iterator[StereoAudio]:
        """``separate_vocals`` of the chunks joined, in pieces, in order."""
        ...
