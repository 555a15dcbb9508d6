"""The music decision and the choice between attempts (``pipeline.decide``), as tables."""

from __future__ import annotations

import pytest

from textfromtrack.pipeline import decide
from textfromtrack.pipeline.quality import QualityReport


def report(
    *,
    poor: bool = False,
    reasons: tuple[str, ...] = (),
    usable: float = 100.0,
    kept: float | None = None,
    voice: float = 120.0,
    score: float = 0.95,
) -> QualityReport:
    metrics = {"usable_words": usable, "voice_seconds": voice}
    if kept is not None:
        metrics["vad_kept_share"] = kept
    return QualityReport(score=score, poor=poor, reasons=reasons, metrics=metrics)


@pytest.mark.parametrize(
    ("given", "retry", "says"),
    [
        # A poor report always retries, whatever the detector kept.
        (report(poor=True, reasons=("low_coverage",), kept=1.5), True, "poor (low_coverage)"),
        (
            report(poor=True, reasons=("repetition_loop", "low_confidence")),
            True,
            "poor (repetition_loop, low_confidence)",
        ),
        # The unseen songs' mixes: passed every check, but the speech detector kept
        # 0.18-0.50 of the voiced seconds.
        (report(kept=0.18), True, "kept 0.18 of 120 voiced seconds"),
        (report(kept=0.50, voice=181.0), True, "kept 0.50 of 181 voiced seconds"),
        (report(kept=0.69), True, "below 0.70"),
        # At the threshold and above: kept.
        (report(kept=0.70), False, "passed; the voice detector kept 0.70"),
        # Speech keeps more than is voiced (1.4-1.7 on the shared clips).
        (report(kept=1.4), False, "passed"),
        (report(kept=1.7, voice=600.0), False, "passed"),
        # Short clips are not judged by the share: one phrase is all they have.
        (report(kept=0.2, voice=29.9), False, "passed"),
        # No detector ran (or a remote engine does not say): nothing to judge.
        (report(kept=None), False, "passed"),
    ],
)
def test_needs_music_mode(given: QualityReport, retry: bool, says: str) -> None:
    decision = decide.needs_music_mode(given)
    assert decision.retry is retry
    assert says in decision.why


def test_the_rule_is_a_setting() -> None:
    off = decide.RoutingRule(kept_share=0.0)
    assert not decide.needs_music_mode(report(kept=0.1), off).retry
    stricter = decide.RoutingRule(kept_share=0.9, min_voice_seconds=10.0)
    assert decide.needs_music_mode(report(kept=0.8, voice=12.0), stricter).retry


@pytest.mark.parametrize(
    ("reports", "winner", "says"),
    [
        ([report(usable=80)], 0, "the only attempt"),
        # More usable words win, even against a higher score: the mix that passed with
        # 0.97 but lost half the song has half the words.
        ([report(usable=60, score=0.97), report(usable=140, score=0.80)], 1, "140 against 60"),
        ([report(usable=200, score=0.6), report(usable=150, score=0.99)], 0, "200 against 150"),
        # A poor attempt with more usable words still wins: deletions lose.
        ([report(usable=30), report(usable=90, poor=True, score=0.4)], 1, "90 against 30"),
        # Ties keep the earlier attempt (no second-guessing the standard path).
        ([report(usable=100), report(usable=100)], 0, "100 against 100"),
        ([report(usable=0), report(usable=0)], 0, "0 against 0"),
        # The margin: music mode must have 1.2x the standard attempt's usable words.
        # The metal dev song's stem had 1.08x and was worse by 0.05-0.08 WER.
        ([report(usable=209), report(usable=226)], 0, "must have 1.2x to replace it"),
        ([report(usable=100), report(usable=120)], 0, "120"),
        ([report(usable=100), report(usable=121)], 1, "121 against 100"),
        # Nothing against something: any word is infinitely more.
        ([report(usable=0), report(usable=3)], 1, "3 against 0"),
    ],
)
def test_choose(reports: list[QualityReport], winner: int, says: str) -> None:
    best, why = decide.choose(reports)
    assert best == winner
    assert says in why


def test_the_margin_is_a_setting() -> None:
    assert decide.choose([report(usable=100), report(usable=101)], margin=1.0)[0] == 1
    assert decide.choose([report(usable=100), report(usable=190)], margin=2.0)[0] == 0


def test_choose_needs_a_report() -> None:
    with pytest.raises(ValueError):
        decide.choose([])


@pytest.mark.parametrize(
    ("heard", "winner", "says"),
    [
        ([11], 0, "the only attempt"),
        ([11, 61], 1, "lyric words heard: 61 against 11"),
        ([122, 104], 1, "lyric words heard: 104 against 122"),  # the stem's silences count
        ([113, 110], 1, "lyric words heard: 110 against 113"),
        ([190, 191], 1, "lyric words heard: 191 against 190"),
        ([50, 50], 1, "lyric words heard: 50 against 50"),
        ([99, 50], 1, "lyric words heard: 50 against 99"),
        ([100, 50], 0, "lyric words heard: 100 against 50"),  # twice as many: the mix
        ([2, 0], 0, "lyric words heard: 2 against 0"),
        ([1, 0], 1, "lyric words heard: 0 against 1"),
        ([0, 0], 1, "lyric words heard: 0 against 0"),
        ([10, 40, 30], 2, "lyric words heard: 30 against 10, 40"),
        ([10, 60, 30], 1, "lyric words heard: 60 against 10, 30"),
    ],
)
def test_choose_for_lyrics(heard: list[int], winner: int, says: str) -> None:
    chosen, why = decide.choose_for_lyrics(heard)
    assert chosen == winner
    assert why.startswith(says)


def test_choose_for_lyrics_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="no attempts"):
        decide.choose_for_lyrics([])
