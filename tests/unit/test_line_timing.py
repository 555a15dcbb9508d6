"""Line timing metrics: start-time matching of produced lines to annotated lines."""

from __future__ import annotations

import pytest

from textfromtrack.pipeline.line_timing import (
    LineTiming,
    TimedLine,
    line_timing,
    lines_of,
    match_starts,
    parse_annotated_lines,
)
from textfromtrack.pipeline.types import Segment, Word


def lines(*starts: float, words: int = 4) -> list[TimedLine]:
    return [TimedLine(s, s + 1.0, words) for s in starts]


@pytest.mark.parametrize(
    ("produced", "annotated", "pairs"),
    [
        ([], [], []),
        ([1.0], [], []),
        ([], [1.0], []),
        ([1.0, 5.0], [1.2, 5.3], [(0, 0), (1, 1)]),
        # An extra produced line stays unmatched: one-to-one.
        ([1.0, 1.1, 5.0], [1.0, 5.0], [(0, 0), (2, 1)]),
        # Both produced lines near one annotated line: only the nearer one matches.
        ([0.4, 1.0], [1.1], [(1, 0)]),
        # Further apart than twice the miss cost (2 s): not the same line.
        ([1.0], [3.5], []),
        ([1.0], [3.0], [(0, 0)]),
        # The cheapest whole alignment, not the nearest pair first: 2.1 s to 2.05 s
        # and 2.0 s to 0.5 s (1.55 s) beat 2.0 s to 2.05 s with 2.1 s to 3.9 s (1.85 s).
        ([2.0, 2.1], [0.5, 2.05, 3.9], [(0, 0), (1, 1)]),
        # Time order on both sides: the later produced line takes the later annotated one.
        ([1.0, 2.0], [1.9, 2.9], [(0, 0), (1, 1)]),
    ],
)
def test_match_starts(
    produced: list[float], annotated: list[float], pairs: list[tuple[int, int]]
) -> None:
    assert match_starts(produced, annotated) == pairs


@pytest.mark.parametrize(
    ("produced", "annotated", "expected"),
    [
        (
            lines(1.0, 5.0, 9.0),
            lines(1.2, 5.7, 12.0),
            LineTiming(3, 3, 2, 0.45, 1 / 3, 2 / 3, 1.0, 0),
        ),
        # Shares are of annotated lines: an unproduced line is a miss.
        (lines(1.0), lines(1.0, 5.0), LineTiming(2, 1, 1, 0.0, 0.5, 0.5, 0.5, 0)),
        (lines(), lines(1.0), LineTiming(1, 0, 0, None, 0.0, 0.0, 0.0, 0)),
        (lines(1.0), lines(), LineTiming(0, 1, 0, None, 0.0, 0.0, 0.0, 0)),
        # A one-word line is an orphan unless it matches a one-word annotated line.
        (
            [*lines(1.0), TimedLine(3.0, 3.5, 1), TimedLine(6.0, 6.5, 1)],
            [*lines(1.0), TimedLine(6.1, 6.4, 1)],
            LineTiming(2, 3, 2, 0.05, 1.0, 1.0, 1.5, 1),
        ),
        # Matched to a longer annotated line, a one-word line is still an orphan (alone
        # in time: there is no other line).
        ([TimedLine(1.0, 1.5, 1)], lines(1.0), LineTiming(1, 1, 1, 0.0, 1.0, 1.0, 1.0, 1, 1)),
        # An orphan with 1.5 s (ALONE_SECONDS) of silence on both sides stands alone.
        (
            [*lines(1.0), TimedLine(3.5, 4.0, 1), TimedLine(5.5, 6.0, 1), *lines(7.0)],
            lines(1.0, 7.0),
            LineTiming(2, 4, 2, 0.0, 1.0, 1.0, 2.0, 2, 1),
        ),
        # Unsorted input is sorted by start first.
        (lines(5.0, 1.0), lines(1.0, 5.0), LineTiming(2, 2, 2, 0.0, 1.0, 1.0, 1.0, 0)),
    ],
)
def test_line_timing(
    produced: list[TimedLine], annotated: list[TimedLine], expected: LineTiming
) -> None:
    got = line_timing(produced, annotated)
    assert (got.annotated, got.produced, got.matched, got.orphans, got.orphans_alone) == (
        expected.annotated,
        expected.produced,
        expected.matched,
        expected.orphans,
        expected.orphans_alone,
    )
    assert got.median_start_error == pytest.approx(expected.median_start_error)
    assert got.within_half_second == pytest.approx(expected.within_half_second)
    assert got.within_one_second == pytest.approx(expected.within_one_second)
    assert got.line_count_ratio == pytest.approx(expected.line_count_ratio)


@pytest.mark.parametrize(
    ("timing", "meets"),
    [
        (LineTiming(10, 10, 10, 0.5, 0.5, 0.7, 1.0, 0), True),
        (LineTiming(10, 10, 10, 0.51, 0.5, 0.7, 1.0, 0), False),
        (LineTiming(10, 10, 10, 0.2, 0.5, 0.69, 1.0, 0), False),
        (LineTiming(10, 10, 10, 0.2, 0.9, 0.9, 1.0, 1), False),
        (LineTiming(10, 0, 0, None, 0.0, 0.0, 0.0, 0), False),
    ],
)
def test_meets_targets(timing: LineTiming, meets: bool) -> None:
    assert timing.meets_targets() is meets


def test_parse_annotated_lines() -> None:
    text = "start_time,end_time,lyrics_line\n17.6,21.4,soy un fantasma que\n43.0,43.1,ouuh\n"
    assert parse_annotated_lines(text) == [TimedLine(17.6, 21.4, 4), TimedLine(43.0, 43.1, 1)]


def test_lines_of_counts_words_as_read() -> None:
    split = (Word(0, 0.2, " n"), Word(0.2, 0.4, "'a"))
    cjk = (Word(1, 1.2, "你"), Word(1.2, 1.4, "好"))
    segs = [
        Segment(0, 0, 0.4, "n'a", split),
        Segment(1, 1, 1.4, "你好", cjk),
        Segment(2, 2, 3, "no words kept here"),
    ]
    assert lines_of(segs) == [TimedLine(0, 0.4, 1), TimedLine(1, 1.4, 2), TimedLine(2, 3, 4)]
