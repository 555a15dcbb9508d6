"""Simplified / Traditional script conversion of transcripts."""

from __future__ import annotations

import threading

import pytest

from textfromtrack.pipeline.chinese import (
    CHINESE_LANGUAGES,
    ChineseScript,
    convert_script,
    convert_segments,
)
from textfromtrack.pipeline.types import Segment, Word


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("廣州市房地產", "广州市房地产"),
        ("說話", "说话"),
        ("頭髮", "头发"),
        # phrase-aware: 發 and 髮 both become 发, 乾 stays in 乾隆
        ("我發現頭髮乾了", "我发现头发干了"),
        ("乾隆皇帝", "乾隆皇帝"),
        # Taiwan writes the particle 著; Simplified writes 着 ...
        ("看著我", "看着我"),
        ("我愛著你", "我爱着你"),
        # ... but 著 reading zhù stays
        ("著名的歌手", "著名的歌手"),
        ("顯著", "显著"),
        # Hong Kong variants
        ("衞生", "卫生"),
        ("説話", "说话"),
        # already Simplified: untouched, including 著 and 么, which tw2s alone would change
        ("显著的进步", "显著的进步"),
        ("这么说", "这么说"),
        ("我们为什么", "我们为什么"),
        # mixed with English, digits and punctuation
        ("我愛 New York 的夜晚", "我爱 New York 的夜晚"),
        ("2024年，我們說：「你好！」", "2024年，我们说：「你好！」"),
        ("Hello, world!", "Hello, world!"),
        ("", ""),
        ("こんにちは", "こんにちは"),
    ],
)
def test_to_simplified(text: str, expected: str) -> None:
    assert convert_script(text, "simplified") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("广州市房地产", "廣州市房地產"),
        ("说话", "說話"),
        ("头发", "頭髮"),
        ("我发现头发很干燥", "我發現頭髮很乾燥"),
        ("干部", "幹部"),
        ("皇后来了", "皇后來了"),
        ("我爱 New York 的夜晚", "我愛 New York 的夜晚"),
        ("你好，世界！", "你好，世界！"),
        ("Hello, world!", "Hello, world!"),
        ("", ""),
    ],
)
def test_to_traditional(text: str, expected: str) -> None:
    assert convert_script(text, "traditional") == expected


@pytest.mark.parametrize("text", ["廣州市房地產", "广州市房地产", "看著我", "Hello", ""])
def test_original_is_unchanged(text: str) -> None:
    assert convert_script(text, "original") == text


@pytest.mark.parametrize("text", ["我发现头发干了", "广州市房地产很贵", "我们看着对方说话"])
def test_round_trip(text: str) -> None:
    assert convert_script(convert_script(text, "traditional"), "simplified") == text


def test_chinese_languages() -> None:
    assert {"zh", "yue"} <= CHINESE_LANGUAGES
    assert "ja" not in CHINESE_LANGUAGES


SEGMENTS = [
    Segment(
        index=0,
        start=1.0,
        end=2.5,
        text="頭髮，說話",
        words=(
            Word(1.0, 1.2, "頭", 0.9),
            Word(1.2, 1.5, "髮，", 0.8),
            Word(1.6, 2.0, "說", 0.7),
            Word(2.0, 2.5, "話", 0.6),
        ),
    ),
    Segment(
        index=1,
        start=3.0,
        end=4.0,
        text="I love 廣州",
        words=(Word(3.0, 3.2, " I"), Word(3.2, 3.5, " love"), Word(3.5, 4.0, " 廣州")),
    ),
    Segment(index=2, start=5.0, end=6.0, text="no words"),
]


@pytest.mark.parametrize(
    ("script", "texts", "word_texts"),
    [
        (
            "simplified",
            ["头发，说话", "I love 广州", "no words"],
            [["头", "发，", "说", "话"], [" I", " love", " 广州"], []],
        ),
        (
            "traditional",
            ["頭髮，說話", "I love 廣州", "no words"],
            [["頭", "髮，", "說", "話"], [" I", " love", " 廣州"], []],
        ),
        (
            "original",
            ["頭髮，說話", "I love 廣州", "no words"],
            [["頭", "髮，", "說", "話"], [" I", " love", " 廣州"], []],
        ),
    ],
)
def test_convert_segments(
    script: ChineseScript, texts: list[str], word_texts: list[list[str]]
) -> None:
    out = convert_segments(SEGMENTS, script)
    assert [s.text for s in out] == texts
    assert [[w.text for w in s.words] for s in out] == word_texts
    # timings, indices and probabilities are untouched; only text changes
    assert [(s.index, s.start, s.end) for s in out] == [(s.index, s.start, s.end) for s in SEGMENTS]
    assert [[(w.start, w.end, w.probability) for w in s.words] for s in out] == [
        [(w.start, w.end, w.probability) for w in s.words] for s in SEGMENTS
    ]


def test_convert_segments_uses_context_across_words() -> None:
    # 髮 alone and 發 alone both become 发; going back needs the phrase 头发 across two words.
    seg = Segment(0, 0.0, 1.0, "头发", (Word(0.0, 0.5, "头"), Word(0.5, 1.0, "发")))
    (out,) = convert_segments([seg], "traditional")
    assert [w.text for w in out.words] == ["頭", "髮"]


def test_concurrent_use_matches_serial() -> None:
    texts = ["廣州市房地產", "我愛著你", "头发", "说话", "看著我"] * 40
    expected = [(convert_script(t, "simplified"), convert_script(t, "traditional")) for t in texts]
    results: list[list[tuple[str, str]]] = []

    def work() -> None:
        results.append(
            [(convert_script(t, "simplified"), convert_script(t, "traditional")) for t in texts]
        )

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 8
