"""Plain data passed between engines, line building, post-processing and exports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    # Whisper's word text keeps its leading space (" hello"); joining words rebuilds the line.
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default=())
