"""A file's vocal stem as the recogniser takes it: 16 kHz mono, from the separator.

The vintage attempt and the alignment of known lyrics both need it. A separator that
streams (Spleeter) gets the file decoded piece by piece and its stem is resampled as
it comes out, so a 10-minute song never exists whole at 44.1 kHz stereo: not as the
decoded input, not as the separated output (about 200 MB each, and the decode's own
buffers on top). Any other separator (Demucs) gets the whole array.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from textfromtrack.media.decode import (
    decode_audio,
    decode_chunks,
    header_seconds,
    join_pieces,
    resample_array,
    resample_chunks,
)
from textfromtrack.pipeline.engines.base import SAMPLE_RATE
from textfromtrack.pipeline.separation.base import (
    SeparationProgress,
    Separator,
    StreamingSeparator,
)

# Input pieces handed to a streaming separator: small next to one of its blocks.
CHUNK_SECONDS = 5.0


@dataclass(frozen=True)
class Stem:
    samples: npt.NDArray[np.float32]  # 16 kHz mono
    # Of the time taken, what went to decoding the file (the rest: separation and
    # resampling); stages are reported apart even where they run interleaved.
    decode_seconds: float


class _TimedChunks:
    """An iterator over the decoded pieces that adds up the time spent decoding them."""

    def __init__(self, chunks: Iterator[npt.NDArray[np.float32]]) -> None:
        self._chunks, self.seconds = chunks, 0.0

    def __iter__(self) -> Iterator[npt.NDArray[np.float32]]:
        return self

    def __next__(self) -> npt.NDArray[np.float32]:
        started = time.perf_counter()
        try:
            return next(self._chunks)
        finally:
            self.seconds += time.perf_counter() - started


def vocal_stem(
    separator: Separator, audio_path: Path, progress: SeparationProgress | None = None
) -> Stem:
    """The vocal stem of the file at ``audio_path`` at 16 kHz mono."""
    rate = separator.sample_rate
    if not isinstance(separator, StreamingSeparator):
        started = time.perf_counter()
        stereo = decode_audio(audio_path, rate, 2)
        decode_seconds = time.perf_counter() - started
        vocals = separator.separate_vocals(stereo, progress)
        del stereo
        return Stem(resample_array(vocals, rate, SAMPLE_RATE, 1), decode_seconds)
    expected = header_seconds(audio_path)
    # Closed on any exit: an aborted job must not leave the file open until collected.
    with closing(decode_chunks(audio_path, rate, 2, CHUNK_SECONDS)) as decoded:
        chunks = _TimedChunks(decoded)
        pieces: Iterable[npt.NDArray[np.float32]] = separator.separate_stream(
            chunks, progress, round(expected * rate) if expected else None
        )
        samples = join_pieces(resample_chunks(pieces, rate, SAMPLE_RATE, 1), 1)
    return Stem(samples, chunks.seconds)


def blend_mix(
    stem: npt.NDArray[np.float32], mix: npt.NDArray[np.float32], share: float
) -> npt.NDArray[np.float32]:
    """``(1 - share) * stem + share * mix``, at the stem's length (both 16 kHz mono).

    What the vintage attempt decodes. A separator's stem is the mix through a mask, and
    the mask's errors (a voice with holes and a metallic edge where an instrument shared
    its frequencies) cost Whisper more words than the instruments left at a low level:
    Whisper was trained on speech with music behind it, not on masked audio. A share of
    0.15 keeps the accompaniment about 17 dB below the voice and fills the holes with
    the voice as it was recorded (benchmarks/lyrics.py: the dev set's vintage WER went
    from 0.670 to 0.629, lower on every input variant). 0 is the stem itself.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"the mix's share must be in [0, 1), got {share}")
    if share == 0.0:
        return stem
    # Separation and a plain decode of the same file differ by a few samples at the end.
    aligned = np.zeros_like(stem)
    n = min(len(stem), len(mix))
    aligned[:n] = mix[:n]
    return ((1.0 - share) * stem + share * aligned).astype(np.float32)
