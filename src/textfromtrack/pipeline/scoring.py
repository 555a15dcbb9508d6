"""Accuracy scoring: word error rate (character error rate for Chinese and Japanese).

Pure functions shared by the engine tests and the accuracy benchmarks. Both texts
go through the same normalisation, so casing, punctuation and full-width forms do
not count as errors; only the words themselves do.
"""

from __future__ import annotations

import re
import unicodedata

# Languages written without spaces between words: scored per character.
CHARACTER_LANGUAGES = frozenset({"zh", "yue", "ja"})

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
# An apostrophe is part of a word only between two letters or digits ("don't", "o'clock");
# elsewhere it is a quotation mark.
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
# Titles Whisper abbreviates but read-speech references (LibriSpeech) spell out, as in
# Whisper's own English normaliser; counting "mr" vs "mister" as an error measures
# transcript style, not recognition.
_ENGLISH_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


def _base_language(language: str) -> str:
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def _strip_punctuation(text: str) -> str:
    # Unicode categories cover ASCII, CJK (。，、「」) and symbol marks (♪) alike.
    return "".join(
        " " if ch != "'" and unicodedata.category(ch)[0] in {"P", "S"} else ch for ch in text
    )


def normalise_text(text: str, language: str) -> list[str]:
    """Lowercase, drop punctuation and split into scoring tokens.

    Chinese and Japanese yield one token per CJK character (runs of Latin letters or
    digits inside them stay whole words); other languages split on whitespace.
    English titles are spelt out ("Mr." -> "mister").
    """
    # NFKC folds full-width letters and digits (Ａ１) into their ASCII forms.
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    text = _STRAY_APOSTROPHE.sub(" ", _strip_punctuation(text))
    base = _base_language(language)
    if base in CHARACTER_LANGUAGES:
        text = _CJK.sub(lambda m: f" {m.group(0)} ", text)
    tokens = text.split()
    if base == "en":
        tokens = [_ENGLISH_TITLES.get(token, token) for token in tokens]
    return tokens


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between token lists (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, start=1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_token != hyp_token),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """Edit distance over normalised tokens divided by the reference's token count.

    It can exceed 1.0 when the hypothesis adds many words. An empty reference scores
    0.0 against an empty hypothesis and 1.0 against anything else.
    """
    ref = normalise_text(reference, language)
    hyp = normalise_text(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def matched_words(reference: str, hypothesis: str, language: str = "en") -> int:
    """How many reference tokens the hypothesis contains, in order (their longest
    common subsequence).

    Word error rate punishes extra words as much as missing ones; this counts only
    what was recovered, which is the question when comparing two transcripts of the
    same lyrics ("which one got more of the words?").
    """
    ref = normalise_text(reference, language)
    hyp = normalise_text(hypothesis, language)
    previous = [0] * (len(hyp) + 1)
    for ref_token in ref:
        current = [0]
        for j, hyp_token in enumerate(hyp, start=1):
            if ref_token == hyp_token:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]
