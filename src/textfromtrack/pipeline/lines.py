"""Rebuilds lyric-sized lines from word timings.

Whisper's own segments run to 30 s windows (far longer with batched inference);
subtitles and karaoke want short lines that start when the singer starts. Lines
break at pauses and sentence punctuation, and never exceed the length limits; a
line that must break early breaks at its last clause mark when it has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from textfromtrack.pipeline.types import Segment, Word

SENTENCE_END = tuple(".!?。！？…")
CLAUSE_END = tuple(",;:，、；：")


@dataclass(frozen=True)
class LineLimits:
    max_chars: int = 42
    max_seconds: float = 7.0
    # A silence this long between two words starts a new line.
    pause_seconds: float = 0.6


def line_text(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words).strip()


def _ends_with(word: Word, marks: tuple[str, ...]) -> bool:
    return word.text.rstrip().endswith(marks)


def _split_long(line: list[Word], limits: LineLimits) -> tuple[list[Word], list[Word]]:
    """Where to cut an overflowing line: its last clause mark past a third, else its end."""
    for i in range(len(line) - 1, 0, -1):
        if _ends_with(line[i - 1], CLAUSE_END) and i >= len(line) / 3:
            return line[:i], line[i:]
    return line, []


def build_lines(words: Iterable[Word], limits: LineLimits | None = None) -> list[list[Word]]:
    limits = limits or LineLimits()
    lines: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if not word.text.strip():
            continue
        if current:
            gap = word.start - current[-1].end
            too_long = len(line_text([*current, word])) > limits.max_chars
            too_slow = word.end - current[0].start > limits.max_seconds
            if gap >= limits.pause_seconds:
                lines.append(current)
                current = []
            elif too_long or too_slow:
                done, rest = _split_long(current, limits)
                lines.append(done)
                current = rest
        current.append(word)
        if _ends_with(word, SENTENCE_END):
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    return lines


def segments_from_words(words: Iterable[Word], limits: LineLimits | None = None) -> list[Segment]:
    return [
        Segment(
            index=i, start=line[0].start, end=line[-1].end, text=line_text(line), words=tuple(line)
        )
        for i, line in enumerate(build_lines(words, limits))
    ]


def reindex(segments: Iterable[Segment]) -> list[Segment]:
    return [
        Segment(index=i, start=s.start, end=s.end, text=s.text, words=s.words)
        for i, s in enumerate(segments)
    ]
