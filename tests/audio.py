"""Writes short test audio with PyAV, so tests need no binary fixtures."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODECS = {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame"}
TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"


def write_tone(
    path: Path, seconds: float, rate: int = 16000, freq: float = 440.0, amplitude: float = 0.3
) -> Path:
    codec = CODECS[path.suffix.lower()]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"  # type: ignore[union-attr]
        fmt = "s16" if codec in {"pcm_s16le", "flac"} else "fltp"
        stream.format = fmt  # type: ignore[union-attr]
        total = round(seconds * rate)
        block = 4096
        pts = 0
        while pts < total:
            n = min(block, total - pts)
            t = (np.arange(pts, pts + n) / rate).astype(np.float64)
            wave = amplitude * np.sin(2 * np.pi * freq * t)
            data = (wave * 32767).astype(np.int16) if fmt == "s16" else wave.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):  # type: ignore[union-attr]
                container.mux(packet)
            pts += n
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return path
