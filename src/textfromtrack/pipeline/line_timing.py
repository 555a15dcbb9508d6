"""How well produced lyric lines start where annotated lines start.

Lines are paired by their start times, not by their text. The text on sung vocals is
often wrong (Whisper base misses or mishears a third of the words of a song), and a
text alignment would charge those recognition errors to the line splitter; the user
of a karaoke or subtitle file sees the timing: a line appears when the singer starts.

The pairing is one-to-one and monotonic: each annotated line is matched to at most
one produced line, in time order on both sides (both are sequences of lines). One-to-
one means cutting a song into many short lines cannot buy accuracy: every annotated
line needs its own produced line, and the extra ones stay unmatched. It is an edit
distance on start times: a matched pair costs its start error, an unmatched line on
either side costs ``miss_seconds``; so two lines further apart than twice that are
never the same line (their pairing would cost more than leaving both unmatched).

Shares (within 0.5 s, within 1 s) are of the annotated lines, so a line that was not
produced at all counts as a miss, not as a line left out of the sample.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from textfromtrack.pipeline.lines import SUNG, visible_words
from textfromtrack.pipeline.types import Segment

# Unmatched line cost: pairs up to 2 s apart can match, a few words of a sung line.
MISS_SECONDS = 1.0
# A one-word line this far from the lines on both sides stands alone in time.
ALONE_SECONDS = SUNG.alone_seconds


@dataclass(frozen=True)
class TimedLine:
    start: float
    end: float
    words: int


@dataclass(frozen=True)
class LineTiming:
    annotated: int
    produced: int
    matched: int
    # Median |start error| over matched pairs; None when nothing matched.
    median_start_error: float | None
    # Shares of the annotated lines whose matched line starts that close.
    within_half_second: float
    within_one_second: float
    # produced / annotated: over 1 cuts lines too short, under 1 runs them together.
    line_count_ratio: float
    # Produced one-word lines not matched to a one-word annotated line.
    orphans: int
    # Those of them that stand alone in time (``ALONE_SECONDS`` of silence to the lines
    # on both sides): the splitter's rule allows them (an ad-lib, a word the recogniser
    # heard in a passage it otherwise missed); the others it should have joined.
    orphans_alone: int = 0

    def meets_targets(self) -> bool:
        """Issue #13's targets: median <= 0.5 s, >= 70% within 1 s, no orphans."""
        return (
            self.median_start_error is not None
            and self.median_start_error <= 0.5
            and self.within_one_second >= 0.7
            and self.orphans == 0
        )


def lines_of(segments: Iterable[Segment]) -> list[TimedLine]:
    """Produced lines, their words counted as a reader counts them (``visible_words``)."""
    return [
        TimedLine(s.start, s.end, visible_words(s.words) if s.words else len(s.text.split()))
        for s in segments
    ]


def parse_annotated_lines(text: str) -> list[TimedLine]:
    """The dev set's ``.lines.csv``: start_time,end_time,lyrics_line."""
    return [
        TimedLine(float(row["start_time"]), float(row["end_time"]), len(row["lyrics_line"].split()))
        for row in csv.DictReader(io.StringIO(text))
    ]


def match_starts(
    produced: Sequence[float], annotated: Sequence[float], miss_seconds: float = MISS_SECONDS
) -> list[tuple[int, int]]:
    """Index pairs (produced, annotated) of the cheapest monotonic one-to-one matching.

    Both sequences must be sorted. Ties go to matching (a pair at exactly twice the
    miss cost is matched), so the result does not depend on the order of the steps.
    """
    n, m = len(produced), len(annotated)
    # cost[i][j]: cheapest alignment of produced[i:] with annotated[j:].
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n or j == m:
                cost[i][j] = miss_seconds * ((n - i) + (m - j))
                continue
            cost[i][j] = min(
                abs(produced[i] - annotated[j]) + cost[i + 1][j + 1],
                miss_seconds + cost[i + 1][j],
                miss_seconds + cost[i][j + 1],
            )
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        paired = abs(produced[i] - annotated[j]) + cost[i + 1][j + 1]
        if paired <= cost[i][j] + 1e-9:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif miss_seconds + cost[i + 1][j] <= cost[i][j] + 1e-9:
            i += 1
        else:
            j += 1
    return pairs


def line_timing(
    produced: Sequence[TimedLine],
    annotated: Sequence[TimedLine],
    miss_seconds: float = MISS_SECONDS,
) -> LineTiming:
    ours = sorted(produced, key=lambda line: line.start)
    theirs = sorted(annotated, key=lambda line: line.start)
    pairs = match_starts([x.start for x in ours], [x.start for x in theirs], miss_seconds)
    errors = [abs(ours[i].start - theirs[j].start) for i, j in pairs]
    one_word_matches = {i for i, j in pairs if theirs[j].words == 1}
    orphaned = [i for i, x in enumerate(ours) if x.words == 1 and i not in one_word_matches]

    def alone(i: int) -> bool:
        before = ours[i].start - ours[i - 1].end if i > 0 else float("inf")
        after = ours[i + 1].start - ours[i].end if i + 1 < len(ours) else float("inf")
        return min(before, after) >= ALONE_SECONDS

    total = len(theirs)
    return LineTiming(
        annotated=total,
        produced=len(ours),
        matched=len(pairs),
        median_start_error=statistics.median(errors) if errors else None,
        within_half_second=sum(e <= 0.5 for e in errors) / total if total else 0.0,
        within_one_second=sum(e <= 1.0 for e in errors) / total if total else 0.0,
        line_count_ratio=len(ours) / total if total else 0.0,
        orphans=len(orphaned),
        orphans_alone=sum(1 for i in orphaned if alone(i)),
    )
