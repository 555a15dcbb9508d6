"""Tone-marked pinyin after each run of Chinese characters: 我爱你 → 我爱你[wǒ ài nǐ].

Learners and karaoke singers read lyrics with the pronunciation alongside, one
syllable per character so each can be matched to its character. Readings come
from pypinyin's phrase dictionary, which is what gets heteronyms right by
context (银行行长 → yín háng háng zhǎng, 长大 → zhǎng dà, 音乐 → yīn yuè), so a
whole run is looked up at once rather than character by character.

That dictionary is written in Simplified characters: Traditional input looked up
as it is loses the phrase readings (銀行 → yín xíng, 音樂 → yīn lè, 看著 → kàn
zhù). Readings are therefore taken from the Simplified form of the text, while
the characters shown stay the ones that were written. Simplification merges
characters, though (髮 hair and 發 send are both 发), so a reading the written
character cannot have is replaced by one it can: 髮 alone reads fà, not 发's fā.

Only Han characters are annotated. Punctuation (ASCII or full-width), digits,
Latin text, Japanese kana and Korean hangul end a run and are left alone, as is
a Han character pypinyin has no reading for (it is shown without brackets
rather than with a placeholder).

Annotating twice gives the same text as annotating once: a run already followed
by a bracket holding one pinyin-looking syllable per character is not annotated
again, so callers need not track whether a text has been through here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from types import ModuleType

from textfromtrack.pipeline.chinese import convert_script
from textfromtrack.pipeline.types import Segment

# Han ideographs: CJK Unified Ideographs with Extension A, the compatibility
# ideographs (豈), the Supplementary and Tertiary Ideographic Planes (Extensions B
# onward), and 〇, the ideographic zero of dates such as 二〇二四. Radicals, CJK
# punctuation, kana and hangul are not ideographs and are left out.
_HAN = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_HAN_CHAR = re.compile(f"[{_HAN}]")
# A bracket right after a run, as this module writes it: syllables split by single spaces.
_BRACKET = re.compile(r"\[([^\[\]\s]+(?: [^\[\]\s]+)*)\]")
# A tone-marked syllable once its marks are stripped (ü → u, ê → e, ḿ → m).
_BARE_SYLLABLE = re.compile(r"[a-z]+")


def has_han(text: str) -> bool:
    """Whether ``text`` contains at least one Chinese (Han) character."""
    return _HAN_CHAR.search(text) is not None


def _is_syllable(token: str) -> bool:
    bare = "".join(c for c in unicodedata.normalize("NFD", token) if not unicodedata.combining(c))
    return _BARE_SYLLABLE.fullmatch(bare) is not None


def _pypinyin() -> ModuleType:
    """pypinyin, imported at first use: its dictionaries cost about 35 MB, which the API
    process of ``tft serve`` never needs when jobs run in a child (queue/isolated.py)."""
    import pypinyin

    return pypinyin


@lru_cache(maxsize=4096)
def _all_readings(char: str) -> tuple[str, ...]:
    """Every reading pypinyin knows for one character, the usual one first."""
    p = _pypinyin()
    found = p.pinyin(char, style=p.Style.TONE, heteronym=True)
    return tuple(r for r in (found[0] if found else []) if _is_syllable(r))


def _fit(reading: str, written: str, looked_up: str) -> str:
    """``reading`` (of ``looked_up``) if ``written`` can be read so, else one that it can."""
    if written == looked_up or not reading:
        return reading
    own = _all_readings(written)
    if not own or reading in own:
        return reading
    shared = [r for r in own if r in _all_readings(looked_up)]
    return shared[0] if shared else own[0]


def _readings(run: str, lookup: str) -> list[str]:
    """One tone-marked syllable per character of ``run``; "" where there is none."""
    # pypinyin returns a character it cannot read as the character itself.
    p = _pypinyin()
    syllables = p.lazy_pinyin(lookup, style=p.Style.TONE)
    if len(syllables) != len(lookup):
        # Unreadable characters in a row can come back as one item; character by
        # character keeps the alignment, at the cost of phrase context for this run.
        syllables = [next(iter(p.lazy_pinyin(c, style=p.Style.TONE)), "") for c in lookup]
    return [
        _fit(s if _is_syllable(s) else "", w, k)
        for s, w, k in zip(syllables, run, lookup, strict=True)
    ]


def _annotated_already(text: str, end: int) -> int:
    """How many syllables an annotation starting at ``end`` holds; 0 when there is none."""
    bracket = _BRACKET.match(text, end)
    if bracket is None:
        return 0
    tokens = bracket.group(1).split(" ")
    return len(tokens) if all(_is_syllable(t) for t in tokens) else 0


def _annotate_run(run: str, lookup: str, done: int) -> str:
    readings = _readings(run, lookup)
    # Split the run where a character has no reading; each readable stretch gets its
    # own bracket so every bracket still has exactly one syllable per character.
    out: list[str] = []
    i = 0
    while i < len(run):
        if not readings[i]:
            out.append(run[i])
            i += 1
            continue
        j = i
        while j < len(run) and readings[j]:
            j += 1
        out.append(run[i:j])
        # The last stretch may already carry its bracket (a second pass).
        if not (j == len(run) and done == j - i):
            out.append("[" + " ".join(readings[i:j]) + "]")
        i = j
    return "".join(out)


def annotate(text: str) -> str:
    """``text`` with each run of Han characters followed by its pinyin in brackets."""
    if not has_han(text):
        return text
    # Character for character in practice; if not, the text itself is looked up.
    lookup = convert_script(text, "simplified")
    if len(lookup) != len(text):
        lookup = text
    out: list[str] = []
    pos = 0
    for m in _HAN_RUN.finditer(text):
        out.append(text[pos : m.start()])
        done = _annotated_already(text, m.end())
        out.append(_annotate_run(m.group(), lookup[m.start() : m.end()], done))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def annotate_segments(segments: Iterable[Segment]) -> list[Segment]:
    """Segments with pinyin added to their text; words keep their own text and timing."""
    return [replace(s, text=annotate(s.text)) for s in segments]
