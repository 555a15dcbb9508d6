"""Pinyin annotation of Chinese text."""

from __future__ import annotations

import re

import pypinyin
import pytest
from pypinyin import Style, lazy_pinyin

from textfromtrack.pipeline.chinese import convert_script
from textfromtrack.pipeline.pinyin import annotate, annotate_segments, has_han
from textfromtrack.pipeline.types import Segment, Word

CASES = [
    # polyphonic characters read by phrase
    ("银行行长", "银行行长[yín háng háng zhǎng]"),
    ("重庆", "重庆[chóng qìng]"),
    ("长大", "长大[zhǎng dà]"),
    ("长江", "长江[cháng jiāng]"),
    ("音乐", "音乐[yīn yuè]"),
    ("快乐", "快乐[kuài lè]"),
    ("了解", "了解[liǎo jiě]"),
    ("好了", "好了[hǎo le]"),
    # mixed with English: spaces and Latin text stay outside the runs
    ("我爱 New York 的夜晚", "我爱[wǒ ài] New York 的夜晚[de yè wǎn]"),
    ("I love 北京 so much", "I love 北京[běi jīng] so much"),
    # punctuation, full-width and ASCII, ends a run
    (
        "重庆，长大。音乐！快乐？了解、好了",
        "重庆[chóng qìng]，长大[zhǎng dà]。音乐[yīn yuè]！快乐[kuài lè]？"
        "了解[liǎo jiě]、好了[hǎo le]",
    ),
    ("“你好”《三国》", "“你好[nǐ hǎo]”《三国[sān guó]》"),
    ("你好,世界!", "你好[nǐ hǎo],世界[shì jiè]!"),
    # digits end a run; the ideographic zero is a Han character
    ("2024年5月", "2024年[nián]5月[yuè]"),
    ("二〇二四年", "二〇二四年[èr líng èr sì nián]"),
    # Traditional characters keep their form and get the phrase reading
    ("銀行", "銀行[yín háng]"),
    ("銀行行長", "銀行行長[yín háng háng zhǎng]"),
    ("重慶", "重慶[chóng qìng]"),
    ("音樂", "音樂[yīn yuè]"),
    ("看著我", "看著我[kàn zhe wǒ]"),
    ("豈有此理", "豈有此理[qǐ yǒu cǐ lǐ]"),
    # 髮 and 發 both simplify to 发, 乾 and 幹 to 干: the written character's reading wins
    ("我的髮", "我的髮[wǒ de fà]"),
    ("發現", "發現[fā xiàn]"),
    ("乾", "乾[gān]"),
    ("乾隆", "乾隆[qián lóng]"),
    ("幹嘛", "幹嘛[gàn má]"),
    # nothing to annotate
    ("", ""),
    ("Hello, world! 123", "Hello, world! 123"),
    ("こんにちは", "こんにちは"),
    ("한국어", "한국어"),
    # brackets that are not pinyin are not taken for an annotation
    ("我爱你[music]", "我爱你[wǒ ài nǐ][music]"),
    ("副歌[重复]", "副歌[fù gē][重复[chóng fù]]"),
    ("你好[Intro]", "你好[nǐ hǎo][Intro]"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_annotate(text: str, expected: str) -> None:
    assert annotate(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_annotate_twice_is_annotate_once(text: str, expected: str) -> None:
    assert annotate(expected) == expected


@pytest.mark.parametrize(
    ("traditional", "expected"),
    [
        ("銀行行長", "银行行长[yín háng háng zhǎng]"),
        ("重慶", "重庆[chóng qìng]"),
        ("頭髮", "头发[tóu fà]"),
        ("我愛著你", "我爱着你[wǒ ài zhe nǐ]"),
    ],
)
def test_traditional_converted_first(traditional: str, expected: str) -> None:
    assert annotate(convert_script(traditional, "simplified")) == expected


@pytest.mark.parametrize(
    "text",
    ["银行行长说话很快", "我爱 New York 的夜晚，你呢？", "銀行行長", "二〇二四年5月"],
)
def test_one_syllable_per_character(text: str) -> None:
    for run, syllables in re.findall(r"(\w+?)\[([^\]]+)\]", annotate(text)):
        han = "".join(c for c in run if has_han(c))
        assert len(syllables.split(" ")) == len(han)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("中", True),
        ("abc 中文 def", True),
        ("豈", True),  # compatibility ideograph
        ("㐀", True),  # Extension A
        ("\U00020000", True),  # Extension B
        ("〇", True),
        ("", False),
        ("Hello 123", False),
        ("，。！？、“”《》", False),
        ("こんにちは", False),
        ("カタカナ", False),
        ("한국어", False),
        ("⺁", False),  # a radical, not an ideograph
    ],
)
def test_has_han(text: str, expected: bool) -> None:
    assert has_han(text) is expected


def test_character_without_reading_is_left_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_reading_for_ding(hans: str, style: Style) -> list[str]:
        # pypinyin returns characters it cannot read as they are; pretend 鼎 is one.
        readings = lazy_pinyin(hans, style=style)
        return [c if c == "鼎" else r for c, r in zip(hans, readings, strict=True)]

    monkeypatch.setattr(pypinyin, "lazy_pinyin", no_reading_for_ding)  # looked up at each call
    once = annotate("银鼎行")
    assert once == "银[yín]鼎行[xíng]"
    assert annotate(once) == once


def test_annotate_segments_keeps_words_and_timings() -> None:
    words = (Word(1.0, 1.5, "你", 0.9), Word(1.5, 2.0, "好", 0.8))
    segments = [
        Segment(0, 1.0, 2.0, "你好", words),
        Segment(1, 2.5, 3.0, " Hello"),
    ]
    out = annotate_segments(segments)
    assert [s.text for s in out] == ["你好[nǐ hǎo]", " Hello"]
    assert out[0].words == words
    assert [(s.index, s.start, s.end) for s in out] == [(0, 1.0, 2.0), (1, 2.5, 3.0)]
