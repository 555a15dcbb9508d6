"""Word and character error rates."""

from __future__ import annotations

import pytest

from textfromtrack.pipeline.scoring import edit_distance, normalise_text, word_error_rate


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Hello, World!", "en", ["hello", "world"]),
        ("Don't stop — it's 5 o'clock.", "en", ["don't", "stop", "it's", "5", "o'clock"]),
        # curly apostrophes are apostrophes; quotes around words are not part of them
        ("Don\u2019t say 'never'", "en", ["don't", "say", "never"]),
        ("twenty-one", "en", ["twenty", "one"]),
        ("Mr. Quilter and Dr. Who", "en", ["mister", "quilter", "and", "doctor", "who"]),
        ("♪ la la ♪", "en", ["la", "la"]),
        ("Ｆｕｌｌ　ｗｉｄｔｈ", "en", ["full", "width"]),
        ("Ça va? Très bien.", "fr", ["ça", "va", "très", "bien"]),
        ("你好，世界！", "zh", ["你", "好", "世", "界"]),
        ("我爱KTV。", "zh-CN", ["我", "爱", "ktv"]),
        ("「こんにちは」", "ja", ["こ", "ん", "に", "ち", "は"]),
        ("", "en", []),
        ("  ... !!", "en", []),
    ],
)
def test_normalise_text(text: str, language: str, expected: list[str]) -> None:
    assert normalise_text(text, language) == expected


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ([], [], 0),
        (["a"], [], 1),
        ([], ["a", "b"], 2),
        (["a", "b", "c"], ["a", "b", "c"], 0),
        (["a", "b", "c"], ["a", "x", "c"], 1),
        (["kitten"], ["sitting"], 1),
        (list("kitten"), list("sitting"), 3),
    ],
)
def test_edit_distance(reference: list[str], hypothesis: list[str], expected: int) -> None:
    assert edit_distance(reference, hypothesis) == expected


@pytest.mark.parametrize(
    ("reference", "hypothesis", "language", "expected"),
    [
        ("ask not what your country", "ask not what your country", "en", 0.0),
        # substitution
        ("ask not what your country", "ask not what our country", "en", 1 / 5),
        # insertion
        ("ask not what your country", "ask not what your own country", "en", 1 / 5),
        # deletion
        ("ask not what your country", "ask not your country", "en", 1 / 5),
        # case and punctuation are ignored
        ("And so, my fellow Americans:", "and so my fellow americans", "en", 0.0),
        ("MISTER QUILTER IS THE APOSTLE", "Mr. Quilter is the apostle.", "en", 0.0),
        # every word wrong plus extra words: more than 100 %
        ("one two", "three four five", "en", 3 / 2),
        # Chinese: character error rate, full-width punctuation ignored
        ("广州市房地产中介协会分析", "广州市房地产中介协会分析。", "zh", 0.0),
        ("广州市房地产中介协会分析", "广州市房地产中介协会分折", "zh", 1 / 12),
        # one substitution (滞 -> 止) and three deletions
        ("甚至出现交易几乎停滞的情况", "甚至出现交易几乎停止", "zh", 4 / 13),
        # empty references
        ("", "", "en", 0.0),
        ("", "hello", "en", 1.0),
        ("...", "", "en", 0.0),
        ("hello world", "", "en", 1.0),
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, language: str, expected: float) -> None:
    assert word_error_rate(reference, hypothesis, language) == pytest.approx(expected)


def test_default_language_is_english() -> None:
    assert word_error_rate("Mr. Smith", "mister smith") == 0.0
