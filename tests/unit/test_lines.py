"""Lyric-line building from word timings."""

from __future__ import annotations

import pytest

from textfromtrack.pipeline.lines import LineLimits, build_lines, segments_from_words
from textfromtrack.pipeline.types import Word


def words(*items: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, text) for start, end, text in items]


def texts(ws: list[Word], limits: LineLimits | None = None) -> list[str]:
    return [s.text for s in segments_from_words(ws, limits)]


@pytest.mark.parametrize(
    ("ws", "expected"),
    [
        ([], []),
        (words((0, 0.5, " Hello"), (0.5, 1, " world")), ["Hello world"]),
        # a pause splits
        (words((0, 0.5, " Hello"), (2.0, 2.5, " again")), ["Hello", "again"]),
        # sentence punctuation splits
        (words((0, 0.5, " Stop."), (0.5, 1, " Go!"), (1, 1.5, " Now")), ["Stop.", "Go!", "Now"]),
        # Chinese: no spaces, full-width marks
        (
            words((0, 0.3, "你"), (0.3, 0.6, "好。"), (0.6, 0.9, "再"), (0.9, 1.2, "见")),
            ["你好。", "再见"],
        ),
        # empty words are dropped
        (words((0, 0.5, " "), (0.5, 1, " la")), ["la"]),
        # the rest of a word stays on its line across a pause (Whisper split "s'appelle")
        (
            words((130.6, 132.58, " s"), (135.78, 135.98, "'appelle"), (136.0, 136.2, " son")),
            ["s'appelle son"],
        ),
        # ... and after a sentence mark
        (words((0, 0.5, " U."), (0.5, 0.7, "S."), (0.7, 1, " Go")), ["U.S.", "Go"]),
    ],
)
def test_splits(ws: list[Word], expected: list[str]) -> None:
    assert texts(ws) == expected


def test_no_line_exceeds_42_characters_and_clause_marks_are_preferred() -> None:
    text = " Once upon a midnight dreary, while I pondered weak and weary over many a volume"
    ws = [Word(i * 0.3, i * 0.3 + 0.25, f" {t}") for i, t in enumerate(text.split())]
    lines = texts(ws)
    assert all(len(line) <= 42 for line in lines)
    assert lines[0] == "Once upon a midnight dreary,"
    assert " ".join(lines) == text.strip()


def test_no_line_exceeds_seven_seconds() -> None:
    ws = [Word(i * 0.5, i * 0.5 + 0.45, " la") for i in range(40)]
    segs = segments_from_words(ws, LineLimits(max_chars=500))
    assert all(s.end - s.start <= 7.0 for s in segs)
    assert sum(len(s.words) for s in segs) == 40


def test_segments_keep_words_and_indices() -> None:
    ws = words((0, 0.5, " a."), (0.6, 1, " b."))
    segs = segments_from_words(ws)
    assert [(s.index, s.start, s.end) for s in segs] == [(0, 0, 0.5), (1, 0.6, 1)]
    assert segs[1].words == (ws[1],)


def test_a_single_overlong_word_stands_alone() -> None:
    ws = words((0, 1, " " + "x" * 60), (1, 1.2, " y"))
    assert [len(line) for line in build_lines(ws)] == [1, 1]
