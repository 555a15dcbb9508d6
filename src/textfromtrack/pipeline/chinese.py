"""Simplified / Traditional Chinese script conversion for transcripts.

Whisper writes Chinese in whichever script its training data suggested for the
audio, often Traditional for Mandarin songs, and sometimes switches script
between segments. Users ask for one script, so the text is converted after
recognition with OpenCC (dictionary- and phrase-based, so 头发/发现 come out as
頭髮/發現 where a character map would give 頭發).

Which OpenCC configuration goes to Simplified was measured, not guessed (on the
~47,000 phrases of pypinyin's dictionary, each run through s2t, s2tw and s2hk
and back):

* ``t2s`` only knows OpenCC's own Traditional standard. Taiwan writes the
  aspect particle as 著 (看著我, 活著), as do most Traditional Mandarin
  subtitles and lyrics Whisper learnt from, so ``t2s`` leaves 著 in the
  Simplified result, where it is wrong in every one of those (the most
  frequent) uses: 245 errors on the Taiwan-style corpus.
* ``tw2s`` first maps Taiwan variants to the standard ones (著 → 着 except in
  the phrases it lists, such as 著名, 顯著, 著作): 110 errors there, all in
  rarer literary words where 著 reads zhù and is not listed (原著, 土著, 譯著).
  But run on text that is already Simplified it damages it, because its
  protective phrases are written in Traditional (显著 → 显着, 么 → 幺).
* ``hk2s`` covers Hong Kong variants (衞, 綫, 説) that the other two leave alone.

So: Hong Kong variants are normalised first (``hk2t``); text that is plainly
Simplified already (no Traditional-only character, some Simplified-only one
such as 们 or 说) is returned as it is; everything else goes through ``tw2s``.
That includes lines whose characters are valid in both scripts (看著我, 想著你),
which are common in lyrics and where 著 is nearly always the particle. Measured
on the same corpus: no errors on text with Simplified-only characters, 113 on
Taiwan-style Traditional (``t2s``: 245), 102 on Hong Kong-style (``t2s``: 116,
``hk2s``: 64, as Hong Kong already writes the particle 着 and the literary zhù
words above are all tw2s costs there), and 17 on two-to-four character
Simplified idioms made only of shared characters (土著 → 土着).

The ``p`` configurations (tw2sp, s2twp) are deliberately not used: they also
swap regional vocabulary (軟體 → 软件), which changes what was said, not just
how it is written.

Simplified → Traditional uses ``s2t``, OpenCC's region-neutral standard, since
the reader's region is unknown.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import Literal

import opencc

from textfromtrack.pipeline.types import Segment, Word

ChineseScript = Literal["simplified", "traditional", "original"]

# Whisper's language codes whose text is written in Chinese characters: Mandarin
# and Cantonese. Script conversion applies to these only, so Japanese kanji (which
# OpenCC would happily "simplify") are never touched.
CHINESE_LANGUAGES: frozenset[str] = frozenset({"zh", "yue"})
SCRIPTS: tuple[ChineseScript, ...] = ("simplified", "traditional", "original")


def as_script(value: str) -> ChineseScript:
    """A stored or submitted script name, checked."""
    for script in SCRIPTS:
        if value == script:
            return script
    raise ValueError(f"unknown Chinese script {value!r}; expected one of {', '.join(SCRIPTS)}")


# Loading a configuration reads its dictionaries (a few ms), so each is built once
# and shared. Sharing across threads is safe: OpenCC's converter is immutable after
# construction and its maintainer confirms concurrent use is supported and unit
# tested (BYVoid/OpenCC#231). The lock only stops two threads building the same
# converter twice.
_converters: dict[str, opencc.OpenCC] = {}
_converters_lock = threading.Lock()


def _convert(config: str, text: str) -> str:
    converter = _converters.get(config)
    if converter is None:
        with _converters_lock:
            converter = _converters.get(config)
            if converter is None:
                converter = opencc.OpenCC(config)
                _converters[config] = converter
    result: str = converter.convert(text)
    return result


def _to_simplified(text: str) -> str:
    standard = _convert("hk2t", text)
    if _convert("t2s", standard) == text and _convert("s2t", text) != text:
        # Simplified already: no Traditional-only character, and some Simplified-only
        # ones. tw2s would only do harm here.
        return text
    return _convert("tw2s", standard)


def convert_script(text: str, script: ChineseScript) -> str:
    """``text`` written in ``script``; characters that are not Chinese are kept as they are."""
    if script == "original" or text.isascii():
        return text
    if script == "simplified":
        return _to_simplified(text)
    return _convert("s2t", text)


def _convert_words(words: tuple[Word, ...], script: ChineseScript) -> tuple[Word, ...]:
    # Converted as one string so phrase rules see the whole line (Whisper often splits
    # Chinese one character per word, and 頭/髮 alone are ambiguous), then cut back at
    # the original word boundaries. OpenCC's script configurations map character for
    # character, so the lengths line up; if they ever did not, each word is converted
    # on its own instead.
    joined = "".join(w.text for w in words)
    converted = convert_script(joined, script)
    if len(converted) != len(joined):
        return tuple(replace(w, text=convert_script(w.text, script)) for w in words)
    out: list[Word] = []
    pos = 0
    for w in words:
        out.append(replace(w, text=converted[pos : pos + len(w.text)]))
        pos += len(w.text)
    return tuple(out)


def convert_segments(segments: Iterable[Segment], script: ChineseScript) -> list[Segment]:
    """Segments with their text and word texts in ``script``; timings are untouched."""
    if script == "original":
        return list(segments)
    return [
        replace(s, text=convert_script(s.text, script), words=_convert_words(s.words, script))
        for s in segments
    ]
