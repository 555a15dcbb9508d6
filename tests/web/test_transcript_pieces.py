"""The transcript view's lines are the exported lines, cut into timed words where they fit."""

from __future__ import annotations

import pytest

from textfromtrack.web.schemas import WebWord, pieces_of, web_segment


def _w(text: str, start: float) -> WebWord:
    return WebWord(start=start, end=start + 0.5, text=text)


@pytest.mark.parametrize(
    ("text", "words", "expected"),
    [
        # English: Whisper's leading spaces become untimed gaps.
        ("ask not", [_w(" ask", 0), _w(" not", 1)], [("ask", 0), (" ", None), ("not", 1)]),
        # Pinyin sits between the Han words, untimed.
        (
            "广州市[guǎng zhōu shì]很好[hěn hǎo]",
            [_w("广州", 0), _w("市", 1), _w("很", 2), _w("好", 3)],
            [
                ("广州", 0),
                ("市", 1),
                ("[guǎng zhōu shì]", None),
                ("很", 2),
                ("好", 3),
                ("[hěn hǎo]", None),
            ],
        ),
        # An edited line whose words no longer fit: one untimed piece, never wrong timings.
        ("ask what", [_w(" ask", 0), _w(" not", 1)], [("ask what", None)]),
        ("no words", [], [("no words", None)]),
    ],
)
def test_pieces_join_to_the_line(
    text: str, words: list[WebWord], expected: list[tuple[str, float | None]]
) -> None:
    pieces = pieces_of(text, words)
    assert "".join(p.text for p in pieces) == text
    assert [(p.text, p.start) for p in pieces] == expected


def test_web_segment_shows_the_exported_text() -> None:
    seg = web_segment(0, 0.0, 2.0, "  你好[nǐ hǎo]\n", [[0.0, 1.0, "你好", 0.9]])
    assert seg.text == "你好[nǐ hǎo]"
    assert [p.text for p in seg.pieces] == ["你好", "[nǐ hǎo]"]
