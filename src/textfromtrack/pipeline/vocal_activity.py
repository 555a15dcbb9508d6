"""Where a separated vocal stem is sung: the stem's own energy, as decoding regions.

Silero is a speech detector. On vocal stems it drops sung passages: on the shared
song it kept 52 of 91 voiced seconds and the last chorus was never decoded. A stem
has no instruments left (an instrument-only passage measures about 0.04 RMS against
0.55 during singing), so its own band energy (``quality.voiced_frames``, the same
measure the quality check divides by) marks the singing well; this turns those
frames into the regions the decoder is given (faster-whisper's ``clip_timestamps``):
short gaps inside a phrase are bridged, blips are dropped, and each region is padded
so that word onsets are not clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from textfromtrack.pipeline.quality import VOICE_SAMPLE_RATE, voiced_frames


@dataclass(frozen=True)
class ActivityOptions:
    # A pause shorter than this is inside a phrase (a breath, a held consonant).
    min_silence_seconds: float = 1.0
    # A voiced stretch shorter than this is a click or leakage, not singing.
    min_active_seconds: float = 0.25
    # Kept around each region so that the first and last words keep their edges.
    pad_seconds: float = 0.4


DEFAULT_OPTIONS = ActivityOptions()


def regions_from_mask(
    mask: npt.NDArray[np.bool_],
    frame_seconds: float,
    duration: float,
    options: ActivityOptions = DEFAULT_OPTIONS,
) -> list[tuple[float, float]]:
    """Voiced frames -> sorted, non-overlapping (start, end) seconds within [0, duration]."""
    runs: list[list[float]] = []
    start: int | None = None
    for i, on in enumerate([*mask.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append([start * frame_seconds, i * frame_seconds])
            start = None
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < options.min_silence_seconds:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    out: list[tuple[float, float]] = []
    for a, b in merged:
        if b - a < options.min_active_seconds:
            continue
        a, b = max(0.0, a - options.pad_seconds), min(duration, b + options.pad_seconds)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def sung_regions(
    stem: npt.NDArray[np.floating],
    sample_rate: int = VOICE_SAMPLE_RATE,
    options: ActivityOptions = DEFAULT_OPTIONS,
) -> list[tuple[float, float]]:
    """The regions of ``stem`` (mono) to decode."""
    mask, frame_seconds = voiced_frames(stem, sample_rate)
    duration = len(stem) / sample_rate
    return regions_from_mask(mask, frame_seconds, duration, options)
