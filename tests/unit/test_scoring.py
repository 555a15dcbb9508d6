"""Word and character error rates."""

from __future__ import annotations

import pytest

from textfromtrack.pipeline.scoring import (
    edit_distance,
    matched_words,
    normalise_text,
    word_error_rate,
)


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


@pytest.mark.parametrize(
    ("reference", "hypothesis", "language", "expected"),
    [
        ("", "", "en", 0),
        ("soy un fantasma", "", "es", 0),
        ("", "soy un fantasma", "es", 0),
        ("soy un fantasma", "Soy un fantasma.", "es", 3),
        # Extra words cost nothing: only what was recovered counts.
        ("soy un fantasma", "yo soy un gran fantasma hoy", "es", 3),
        # Order matters: a subsequence, not a bag of words.
        ("a b c", "c b a", "en", 1),
        # Repeated words are matched once each.
        ("hueco dentro de otro hueco", "hueco hueco", "es", 2),
        ("the the the", "the", "en", 1),
        ("mr smith", "Mister Smith", "en", 2),
        # Chinese is matched per character.
        ("银行行长", "银行长", "zh", 3),
    ],
)
def test_matched_words(reference: str, hypothesis: str, language: str, expected: int) -> None:
    assert matched_words(reference, hypothesis, language) == expected
    # Never more than either side has.
    assert expected <= min(
        len(normalise_text(reference, language)), len(normalise_text(hypothesis, language))
    )
