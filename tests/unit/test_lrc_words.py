"""Enhanced (word-synced) LRC: `format=lrc&words=true`."""

from __future__ import annotations

import pytest

from textfromtrack.exports.formats import ExportMeta, lrc_words_line, render, to_lrc
from textfromtrack.pipeline.types import Segment, Word

META = ExportMeta("job", "song.mp3", "en", 65.0)


def seg(start: float, end: float, text: str, *words: tuple[float, float, str]) -> Segment:
    return Segment(0, start, end, text, tuple(Word(a, b, t) for a, b, t in words))


@pytest.mark.parametrize(
    ("segment", "line"),
    [
        (
            seg(12.0, 13.5, " Hello world", (12.0, 12.5, " Hello"), (12.6, 13.5, " world")),
            "[00:12.00] <00:12.00> Hello <00:12.60> world <00:13.50>",
        ),
        (
            seg(61.234, 62.0, " so, long", (61.234, 61.5, " so,"), (61.6, 62.004, " long")),
            "[01:01.23] <01:01.23> so, <01:01.60> long <01:02.00>",
        ),
        (  # CJK words carry no leading space, and none is added between them
            seg(1.0, 2.0, "你好", (1.0, 1.4, "你"), (1.5, 2.0, "好")),
            "[00:01.00] <00:01.00> 你<00:01.50>好<00:02.00>",
        ),
        (  # mixed: the Latin word after CJK had its space
            seg(1.0, 3.0, "你好 world", (1.0, 1.4, "你"), (1.5, 2.0, "好"), (2.1, 3.0, " world")),
            "[00:01.00] <00:01.00> 你<00:01.50>好 <00:02.10> world <00:03.00>",
        ),
        (seg(1.0, 2.0, " no words"), None),
        (  # pinyin rewrote the text: the words no longer say what the line says
            seg(1.0, 2.0, " 你好[nǐ hǎo]", (1.0, 2.0, " 你好")),
            None,
        ),
        (  # a word whose end precedes its start (a model quirk) still closes the line
            seg(3.0, 4.0, " one", (3.0, 2.9, " one")),
            "[00:03.00] <00:03.00> one <00:03.00>",
        ),
    ],
)
def test_enhanced_lines(segment: Segment, line: str | None) -> None:
    assert lrc_words_line(segment) == line


def test_words_true_gives_enhanced_lines_and_keeps_the_header_and_clears() -> None:
    segments = [
        seg(1.0, 2.0, " Hello there", (1.0, 1.5, " Hello"), (1.5, 2.0, " there")),
        seg(10.0, 11.0, " bye"),  # no words: the plain line
    ]
    text = to_lrc(segments, META, words=True)
    assert text.splitlines() == [
        "[ti:song]",
        "[length:01:05]",
        "[re:TextFromTrack]",
        "[la:en]",
        "[00:01.00] <00:01.00> Hello <00:01.50> there <00:02.00>",
        "[00:02.00]",
        "[00:10.00]bye",
        "[00:11.00]",
    ]


def test_plain_lrc_is_still_the_default() -> None:
    segments = [seg(1.0, 2.0, " Hello there", (1.0, 1.5, " Hello"), (1.5, 2.0, " there"))]
    assert render("lrc", segments, META) == to_lrc(segments, META)
    assert "<" not in render("lrc", segments, META)
    assert render("lrc", segments, META, words=True) == to_lrc(segments, META, words=True)
    # Other formats ignore the flag.
    assert render("srt", segments, META, words=True) == render("srt", segments, META)
