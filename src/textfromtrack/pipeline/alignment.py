"""Known lyrics, aligned: the user's own words and lines, each word timed from the audio.

A job submitted with ``lyrics`` still decodes the audio as any other job does; this
module then puts the user's words on that decode's timeline:

1. **Text to text.** The user's words and the decoded words are normalised (case,
   accents and punctuation away) and matched in order by a weighted longest common
   subsequence over word similarity, so a misheard word still matches its neighbour
   in spelling and a missed or invented line costs nothing but its own words. A
   decoded word weighs by its probability, and a decoder's loop (a verse written out
   again at one instant) is left out. Every matched word is an *anchor* and takes the
   decoded word's times.
2. **Interpolation.** Words between two anchors share the time between them by
   length, within the stretches where the vocal stem carries voice that the decoder
   heard (all of the stem's voice when that leaves no room: the decoder's voice
   detector drops whole sung passages); words of the line before a long silence stay
   beside their line, so a chorus is never smeared over an instrumental break. No
   word is ever dropped.
3. **Forced alignment** (when the engine can: faster-whisper's CTranslate2 model),
   with Whisper's own ``align`` (cross-attention and dynamic time warping, the
   mechanism behind its word timestamps) placing exactly the user's tokens. The
   chosen method, ``hybrid``: runs of three or more anchors keep the decode's times,
   and the words between them are aligned window after window (30 s at most) within
   the time between those runs, each window given more words than it can hold and
   keeping those placed well inside it. ``forced`` (windows around each line's
   estimate) and ``sequential`` (window after window through the whole song) are
   the other methods measured.

Why this order and these numbers: benchmarks/alignment.py on the four JamendoLyrics
development songs (README, "Known lyrics, aligned").

Lines come from the user's line breaks (blank lines ignored); each line's text is
kept as written (only its surrounding whitespace goes), and its words are its
whitespace-separated tokens, except that Han, kana and other scripts written without
spaces are timed character by character, as Whisper's own word timestamps are.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from textfromtrack.pipeline.separation.base import Separator
from textfromtrack.pipeline.types import Segment, Transcript, Word

MAX_LYRICS_CHARS = 20_000
# Two normalised words at least this similar (1 - edit distance / longer length) may
# be matched; the weight of a match is its similarity above this floor, so exact
# matches win over near ones when both are possible.
MATCH_FLOOR = 0.5
# Matching weight per decoded word: TRUST_BASE + its probability, times SQUEEZED_TRUST
# when it lasts under SQUEEZED_SECONDS (the mark of a hallucinated run).
TRUST_BASE = 0.5
SQUEEZED_SECONDS = 0.06
SQUEEZED_TRUST = 0.3
# This many squeezed words in a row are a decoder's loop: left out of matching.
SQUEEZED_RUN = 3
# The rest of a loop's phrase, up to a pause this long, is trusted as a squeezed word is.
PHRASE_PAUSE_SECONDS = 1.0
# A sung word rarely lasts longer than this; unanchored words beside a long silence
# get at most this much each rather than a share of the silence.
MAX_WORD_SECONDS = 0.8
# A placed word always lasts at least this long, so exports never show zero-length words.
MIN_WORD_SECONDS = 0.02
# Voice over this share of a gap or more is no evidence of where its words are.
UNINFORMATIVE_COVERAGE = 0.8
# Unanchored words go where the stem has voice when there is at least this much per word.
MIN_VOICED_SECONDS_PER_WORD = 0.15
# Forced alignment: one window of Whisper's input (30 s), with this much audio kept
# before and after the lines' estimated span.
WINDOW_SECONDS = 30.0
WINDOW_PAD_SECONDS = 1.5
# A forced time this far from the text alignment's estimate for an anchored word is
# taken for a window that missed its lines; the anchor's time is kept.
FORCED_MAX_SHIFT_SECONDS = 3.0
# Sequential forced alignment: a window starts this long before the voice it is on,
# is given every word estimated to start before its end plus SEQ_LOOKAHEAD_SECONDS (at
# least SEQ_MIN_WORDS), and keeps those placed before its last SEQ_MARGIN_SECONDS.
SEQ_LEAD_SECONDS = 0.5
SEQ_LOOKAHEAD_SECONDS = 10.0
SEQ_MIN_WORDS = 8
SEQ_MARGIN_SECONDS = 6.0
# Where the stem's silences inform the estimates, forced alignment may not move a word
# earlier than this before its estimate: given a window that starts before the voice,
# it crams the words in at the window's start (Le royaume's verse after a 26 s break
# went to the end of the verse before it). 5 s, 8 s and 12 s gave a hybrid mean of
# 0.338, 0.314 and 0.352 s on the dev songs.
SEQ_BACK_SECONDS = 8.0
# Anchors in runs at least this long are trusted as they are (hybrid).
STRONG_RUN = 3
# Where the vocal stem has voice: 50 ms frames no more than this far below its loud
# level (95th percentile) and above an absolute floor; gaps up to VOICE_BRIDGE_SECONDS
# are bridged and stretches shorter than VOICE_MIN_SECONDS dropped.
VOICE_RANGE_DB = 30.0
VOICE_FLOOR_DBFS = -55.0
VOICE_BRIDGE_SECONDS = 0.3
VOICE_MIN_SECONDS = 0.2
# No word is sung across a silence this long (a held note is voiced).
WORD_SILENCE_SECONDS = 2.0
# Words spread over the voice between anchors are shared out phrase by phrase (voice
# between such silences); a phrase with less voice than this holds none: it is a gap's
# edge clipped off a phrase beyond it, or a breath.
MIN_PHRASE_SECONDS = 0.5

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Scripts written without spaces between words: each character is a word of its own.
_UNSPACED = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u0e80-\u0eff"
    r"\u1000-\u109f\u1780-\u17ff\U00020000-\U0002fa1f]"
)


@dataclass(frozen=True)
class LyricWord:
    """One of the user's words: where it is, how it is shown, and how it is compared."""

    line: int
    # As the export shows it: a leading space when the word follows a space (Whisper's
    # convention, which the line-based exports rely on), none inside unspaced scripts.
    text: str
    key: str


@dataclass(frozen=True)
class Lyrics:
    lines: tuple[str, ...]
    words: tuple[LyricWord, ...]


def _key(token: str) -> str:
    """A word as compared: compatibility forms folded, accents and punctuation gone, caseless."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


def _split_line(line: str, number: int) -> list[LyricWord]:
    words: list[LyricWord] = []
    for chunk in line.split():
        pieces = _UNSPACED.split(chunk)
        marks = _UNSPACED.findall(chunk)
        # chunk = pieces[0] marks[0] pieces[1] marks[1] ...: spaced runs and unspaced characters.
        parts: list[str] = []
        for i, piece in enumerate(pieces):
            if piece:
                parts.append(piece)
            if i < len(marks):
                parts.append(marks[i])
        for i, part in enumerate(parts):
            # Punctuation next to an unspaced character belongs to it ("你好，" -> "好，").
            if i and not _key(part) and parts[i - 1] and words:
                last = words[-1]
                words[-1] = replace(last, text=last.text + part)
                continue
            words.append(LyricWord(number, (" " if i == 0 else "") + part, _key(part)))
    return words


def parse_lyrics(text: str) -> Lyrics:
    """The user's lines (blank ones dropped, each stripped) and their words, in order."""
    lines = [line.strip() for line in _LINE_BREAK.split(text)]
    kept = tuple(line for line in lines if line)
    words = tuple(w for n, line in enumerate(kept) for w in _split_line(line, n))
    return Lyrics(kept, words)


def check_lyrics(text: str) -> str | None:
    """Why ``text`` cannot be used as lyrics, or None when it can."""
    if not text.strip():
        return "must not be empty"
    if len(text) > MAX_LYRICS_CHARS:
        return f"at most {MAX_LYRICS_CHARS:,} characters"
    # Binary data arrives as Latin-1 text full of control characters; lyrics have none
    # but tabs and line breaks.
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r" for ch in text):
        return "must be plain text (no control characters)"
    return None


# ---------------------------------------------------------------- text to text


@functools.lru_cache(maxsize=65_536)
def similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length; 0 when either is empty."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def match_words(
    lyric_keys: Sequence[str],
    decoded_keys: Sequence[str],
    floor: float = MATCH_FLOOR,
    trust: Sequence[float] | None = None,
) -> list[tuple[int, int]]:
    """Pairs (lyric index, decoded index), both increasing, of greatest total weight.

    The weight of a pair is its similarity above ``floor`` (pairs at or below it are
    never matched), times the decoded word's ``trust`` when given (so of two copies of a
    repeated chorus, the one really heard wins over a hallucinated one); skipping a word
    on either side costs nothing. Each row of the
    table is one vectorised step: D[i] = running max of max(D[i-1], D[i-1] shifted + w[i]).
    """
    n, m = len(lyric_keys), len(decoded_keys)
    if not n or not m:
        return []
    lyric_vocab = sorted(set(lyric_keys))
    decoded_vocab = sorted(set(decoded_keys))
    table = np.array(
        [[similarity(a, b) for b in decoded_vocab] for a in lyric_vocab], dtype=np.float32
    )
    rows = np.searchsorted(np.array(lyric_vocab), np.array(lyric_keys))
    cols = np.searchsorted(np.array(decoded_vocab), np.array(decoded_keys))
    weights = table[rows][:, cols] - np.float32(floor)
    weights[weights <= 0] = -np.inf
    if trust is not None:
        weights *= np.asarray(trust, dtype=np.float32)[None, :]
    score = np.zeros((n + 1, m + 1), dtype=np.float32)
    for i in range(1, n + 1):
        candidate = np.maximum(score[i - 1, 1:], score[i - 1, :-1] + weights[i - 1])
        score[i, 1:] = np.maximum.accumulate(np.maximum(candidate, 0))
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        if score[i, j] == score[i - 1, j]:
            i -= 1
        elif score[i, j] == score[i, j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    pairs.reverse()
    return pairs


@dataclass(frozen=True)
class Timing:
    start: float
    end: float
    anchored: bool
    probability: float | None = None


def _spread(count: int, weights: Sequence[int], start: float, end: float) -> list[Timing]:
    """``count`` words sharing [start, end] by their weights (characters)."""
    total = sum(weights) or count
    out: list[Timing] = []
    at = start
    span = max(end - start, 0.0)
    for w in weights:
        length = span * (w or 1) / total
        out.append(Timing(at, at + length, False))
        at += length
    return out


def _seconds(spans: Sequence[tuple[float, float]]) -> float:
    return sum(b - a for a, b in spans)


def _sung_phrases(spans: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """``spans`` grouped into phrases: no word is sung across WORD_SILENCE_SECONDS."""
    phrases: list[list[tuple[float, float]]] = []
    for a, b in spans:
        if phrases and a - phrases[-1][-1][1] < WORD_SILENCE_SECONDS:
            phrases[-1].append((a, b))
        else:
            phrases.append([(a, b)])
    return phrases


def _words_per_phrase(count: int, seconds: Sequence[float]) -> list[int]:
    """``count`` words shared by phrases of ``seconds`` voice, largest remainder first;
    when there are words enough, every phrase gets one."""
    if count >= len(seconds):
        base = [1] * len(seconds)
        left = count - len(seconds)
    else:
        base = [0] * len(seconds)
        left = count
    total = sum(seconds) or 1.0
    quotas = [left * s / total for s in seconds]
    shares = [int(q) for q in quotas]
    order = sorted(range(len(seconds)), key=lambda k: quotas[k] - shares[k], reverse=True)
    for k in order[: left - sum(shares)]:
        shares[k] += 1
    return [b + s for b, s in zip(base, shares, strict=True)]


def _spread_voiced(weights: Sequence[int], spans: Sequence[tuple[float, float]]) -> list[Timing]:
    """Words sharing the voiced time of ``spans`` by their weights, silences skipped.

    Where the voice falls silent for WORD_SILENCE_SECONDS it is shared phrase by phrase
    (``_words_per_phrase``), each phrase a whole number of words: spread by time alone,
    a word straddles the silence and ``snap_onsets`` moves it past it, a phrase late,
    and every word after it with it (Fantasma's four held "ooh", one per phrase, went
    8 s late each). A phrase the decoder heard singing in holds a word when there are
    words enough.
    """
    phrases = [p for p in _sung_phrases(spans) if _seconds(p) >= MIN_PHRASE_SECONDS]
    if len(phrases) > 1:
        counts = _words_per_phrase(len(weights), [_seconds(p) for p in phrases])
        out: list[Timing] = []
        at = 0
        for phrase, count in zip(phrases, counts, strict=True):
            if count:
                out += _spread_in(weights[at : at + count], phrase)
            at += count
        return out
    return _spread_in(weights, spans)


def _spread_in(weights: Sequence[int], spans: Sequence[tuple[float, float]]) -> list[Timing]:
    """Words sharing the voiced time of ``spans`` by their weights, silences skipped."""
    edges = np.cumsum([0.0] + [b - a for a, b in spans])
    total = float(edges[-1])

    def at(voiced_time: float) -> float:
        k = min(int(np.searchsorted(edges, voiced_time, side="right")) - 1, len(spans) - 1)
        return spans[k][0] + (voiced_time - float(edges[k]))

    out: list[Timing] = []
    done = 0.0
    share = total / (sum(weights) or 1)
    for w in weights:
        start = at(done)
        done += share * w
        end = at(min(done, total) - 1e-6) if done < total else spans[-1][1]
        out.append(Timing(start, max(end, start), False))
    return out


def _fill_gap(
    run: Sequence[LyricWord],
    left: tuple[float, int | None],
    right: tuple[float, int | None],
    heard: Sequence[Word],
    voiced: Sequence[tuple[float, float]] = (),
    fallback: Sequence[tuple[float, float]] = (),
    between: bool = False,
) -> list[Timing]:
    """Times for unanchored words between a left edge (time, its line) and a right one.

    ``heard``: the decoded words the matcher left unmatched between the two edges: where
    the singer was heard, so where these words most likely are. ``voiced``: the stretches
    where the stem has voice the decoder heard, better evidence still when given;
    ``fallback``: all the stretches where it has voice, for words that find no room there
    (the decoder's voice detector dropped a whole sung passage). ``between``: the words
    are whole lines between two anchored lines' line-mates.
    """
    lo, left_line = left
    hi, right_line = right
    hi = max(hi, lo)
    lengths = [max(len(w.key), 1) for w in run]
    n_before, n_after = _line_mates(run, left_line, right_line)
    pace = MAX_WORD_SECONDS
    crosses = left_line != right_line and (n_before or n_after)
    if crosses and hi - lo > pace * len(run) and (voiced or fallback):
        # A line is sung as one phrase: where a gap runs from one line into another,
        # words of an anchored line stay beside their line-mates, the left line's after
        # its anchor and the right line's leading up to theirs, and whole lines between
        # share the rest. Spread over the gap's voice, a line's missed first word went
        # to the start of the song, 22 s early, onto a spoken intro (Le royaume).
        mid_lo, mid_hi = lo + pace * n_before, hi - pace * n_after
        middle = run[n_before : len(run) - n_after]
        heard_inside = [w for w in heard if mid_lo <= w.start < mid_hi]
        parts: list[Timing] = []
        if n_before:
            parts += _fill_gap(run[:n_before], (lo, None), (mid_lo, None), [], voiced, fallback)
        if middle:
            parts += _fill_gap(
                middle, (mid_lo, None), (mid_hi, None), heard_inside, voiced, fallback, True
            )
        if n_after:
            tail = run[len(run) - n_after :]
            parts += _fill_gap(tail, (mid_hi, None), (hi, None), [], voiced, fallback)
        return parts
    if heard and between:
        # Whole lines between two anchored lines go where the decoder heard words it
        # could not match: that is singing, and these lines are the only ones left to be
        # it (Le royaume's verse after a 26 s break went to its start, 26 s early).
        # Not every unanchored gap: on Fantasma, whose decoder looped a verse over 30 s
        # of "ooh", that took the mean from 0.31 to 0.37 s and moved no other song.
        lo_heard, hi_heard = max(lo, heard[0].start), min(hi, heard[-1].end)
        if hi_heard - lo_heard >= MIN_VOICED_SECONDS_PER_WORD * len(run):
            # From where the voice the first of them was heard in starts: Whisper's word
            # starts come late on held notes (Fantasma's "ooh" line, 1.5 s).
            onset = next((a for a, b in voiced if a <= heard[0].start < b), lo_heard)
            lo, hi = max(lo, onset), hi_heard
    for spans in (voiced, fallback):
        inside = [(max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi]
        if sum(b - a for a, b in inside) >= MIN_VOICED_SECONDS_PER_WORD * len(run):
            return _spread_voiced(lengths, inside)
    if heard:
        lo_heard = max(lo, heard[0].start)
        hi_heard = min(hi, heard[-1].end)
        if hi_heard - lo_heard >= MIN_WORD_SECONDS * len(run):
            return _spread(len(run), lengths, lo_heard, hi_heard)
    if hi - lo <= MAX_WORD_SECONDS * len(run):
        return _spread(len(run), lengths, lo, hi)
    # A long silence: the left line's words follow their anchor, the right line's lead
    # up to theirs, and whole lines between share the middle of the silence.
    before, after = run[:n_before], run[len(run) - n_after :]
    middle = run[n_before : len(run) - n_after]
    out: list[Timing] = []
    at = lo
    for _ in before:
        out.append(Timing(at, at + MAX_WORD_SECONDS * 0.5, False))
        at += MAX_WORD_SECONDS * 0.5
    tail_start = hi - MAX_WORD_SECONDS * 0.5 * len(after)
    if middle:
        room_lo, room_hi = at, tail_start
        need = MAX_WORD_SECONDS * 0.5 * len(middle)
        if room_hi - room_lo > need:
            mid = (room_lo + room_hi) / 2
            room_lo, room_hi = mid - need / 2, mid + need / 2
        out.extend(
            _spread(len(middle), lengths[len(before) : len(before) + len(middle)], room_lo, room_hi)
        )
    at = tail_start
    for _ in after:
        out.append(Timing(at, at + MAX_WORD_SECONDS * 0.5, False))
        at += MAX_WORD_SECONDS * 0.5
    return out


def _covered(spans: Sequence[tuple[float, float]], lo: float, hi: float) -> bool:
    """Whether ``spans`` cover at least UNINFORMATIVE_COVERAGE of [lo, hi]."""
    if not spans or hi <= lo:
        return False
    inside = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in spans)
    return inside >= UNINFORMATIVE_COVERAGE * (hi - lo)


def _line_mates(
    run: Sequence[LyricWord], left_line: int | None, right_line: int | None
) -> tuple[int, int]:
    """How many of ``run``'s first words are of the left anchor's line, and how many of
    its last (the rest) of the right one's."""
    n_before = 0
    while n_before < len(run) and left_line is not None and run[n_before].line == left_line:
        n_before += 1
    n_after = 0
    while (
        n_after < len(run) - n_before
        and right_line is not None
        and run[len(run) - 1 - n_after].line == right_line
    ):
        n_after += 1
    return n_before, n_after


def place_words(
    lyrics: Lyrics,
    decoded: Sequence[Word],
    pairs: Sequence[tuple[int, int]],
    duration: float,
    voiced: Sequence[tuple[float, float]] = (),
    fallback: Sequence[tuple[float, float]] = (),
) -> list[Timing]:
    """A time for every lyric word: anchors from ``pairs``, the rest filled between them
    (``voiced`` and ``fallback``: see ``_fill_gap``)."""
    timings: list[Timing | None] = [None] * len(lyrics.words)
    for li, di in pairs:
        w = decoded[di]
        timings[li] = Timing(w.start, w.end, True, w.probability)
    anchors = [(li, di) for li, di in pairs]
    # Edges: the audio's start and end, with no line of their own.
    edges: list[tuple[int, int, float, float]] = [(-1, -1, 0.0, 0.0)]
    edges += [(li, di, decoded[di].start, decoded[di].end) for li, di in anchors]
    edges.append((len(lyrics.words), len(decoded), duration, duration))
    for (l_li, l_di, _l_start, l_end), (r_li, r_di, r_start, _r_end) in itertools.pairwise(edges):
        if r_li - l_li <= 1:
            continue
        run = lyrics.words[l_li + 1 : r_li]
        heard = [w for w in decoded[l_di + 1 : r_di] if w.text.strip()]
        left_line = lyrics.words[l_li].line if l_li >= 0 else None
        right_line = lyrics.words[r_li].line if r_li < len(lyrics.words) else None
        lo = l_end if l_li >= 0 else (heard[0].start if heard else 0.0)
        hi = r_start if r_li < len(lyrics.words) else (heard[-1].end if heard else duration)
        if l_li < 0 and r_li < len(lyrics.words) and not heard:
            # Nothing heard before the first anchor: the words lead up to it.
            lo = max(0.0, hi - MAX_WORD_SECONDS * 0.5 * len(run))
        if r_li >= len(lyrics.words) and not heard:
            hi = min(duration, lo + MAX_WORD_SECONDS * 0.5 * len(run))
        spans = fallback or voiced
        if spans and l_li < 0:
            lo = min(lo, spans[0][0])
        if spans and r_li >= len(lyrics.words):
            hi = max(hi, spans[-1][1])
        filled = _fill_gap(run, (lo, left_line), (hi, right_line), heard, voiced, fallback)
        for k, timing in enumerate(filled):
            timings[l_li + 1 + k] = timing
    return _monotone([t for t in timings if t is not None], duration)


def _monotone(timings: list[Timing], duration: float) -> list[Timing]:
    """Within the audio, in order, never overlapping, each at least MIN_WORD_SECONDS long."""
    out: list[Timing] = []
    floor = 0.0
    for t in timings:
        start = min(max(t.start, floor), duration)
        end = min(max(t.end, start + MIN_WORD_SECONDS), duration) if duration else t.end
        out.append(Timing(start, max(end, start), t.anchored, t.probability))
        floor = max(end, start)
    return out


# ---------------------------------------------------------------- the result


@dataclass(frozen=True)
class Aligned:
    segments: list[Segment]
    words: int
    anchored: int
    method: str

    @property
    def anchored_share(self) -> float:
        return round(self.anchored / self.words, 4) if self.words else 0.0

    def log_entry(self) -> dict[str, Any]:
        """What attempts_log's winning entry says of the alignment."""
        return {
            "method": self.method,
            "lines": len(self.segments),
            "words": self.words,
            "anchored": self.anchored_share,
        }


def segments_of(lyrics: Lyrics, timings: Sequence[Timing]) -> list[Segment]:
    by_line: list[list[Word]] = [[] for _ in lyrics.lines]
    for word, t in zip(lyrics.words, timings, strict=True):
        by_line[word.line].append(Word(t.start, t.end, word.text, t.probability))
    segments: list[Segment] = []
    for text, words in zip(lyrics.lines, by_line, strict=True):
        if not words:  # a line of nothing but marks has no word to time
            continue
        segments.append(Segment(len(segments), words[0].start, words[-1].end, text, tuple(words)))
    return segments


def join_split_words(decoded: Sequence[Word]) -> list[Word]:
    """Whisper's words rejoined where it split one at an apostrophe (" j" + "'avais").

    Its word timestamps attach leading punctuation to the next word; a word that starts
    with neither a space nor an unspaced script's character continues the previous one.
    """
    out: list[Word] = []
    for w in decoded:
        text = w.text
        if out and text and not text[:1].isspace() and not _UNSPACED.match(text[:1]):
            prev = out[-1]
            if prev.text.strip() and not _UNSPACED.match(prev.text.strip()[-1:]):
                out[-1] = Word(prev.start, max(prev.end, w.end), prev.text + text, prev.probability)
                continue
        out.append(w)
    return out


def _in_squeezed_runs(words: Sequence[Word], run: int = SQUEEZED_RUN) -> list[bool]:
    """Per word: part of a run of ``run`` or more squeezed words in a row."""
    squeezed = [w.end - w.start < SQUEEZED_SECONDS for w in words]
    out = [False] * len(words)
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and squeezed[j]:
            j += 1
        if j - i >= run:
            out[i:j] = [True] * (j - i)
        i = max(j, i + 1)
    return out


def drop_squeezed_runs(words: Sequence[Word], run: int = SQUEEZED_RUN) -> list[Word]:
    """The decode without its runs of ``run`` or more squeezed words in a row.

    A decoder looping on a remembered verse writes it out at one instant, word after
    word a few milliseconds long: those times are no evidence of anything.
    """
    return [
        w for w, dropped in zip(words, _in_squeezed_runs(words, run), strict=True) if not dropped
    ]


def _phrases(words: Sequence[Word]) -> list[tuple[int, int]]:
    """(start, end) index ranges of the words between pauses of PHRASE_PAUSE_SECONDS."""
    phrases: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].start - words[i - 1].end >= PHRASE_PAUSE_SECONDS:
            phrases.append((start, i))
            start = i
    return phrases


def _in_looped_phrases(words: Sequence[Word], squeezed: Sequence[bool] | None = None) -> list[bool]:
    """Per word: in a phrase (words between pauses of PHRASE_PAUSE_SECONDS) that holds a
    squeezed run. The loop's first words often get times of their own: on the dev set's
    Fantasma the decoder wrote "La tristeza es muy extranjosa" three times over 20 s of
    "ooh", "es muy extranjosa" squeezed each time, and the real chorus, heard worse 30 s
    later, lost its anchors to the first copy's "La tristeza". ``squeezed``: the words'
    ``_in_squeezed_runs``, when the caller has them already."""
    if squeezed is None:
        squeezed = _in_squeezed_runs(words)
    phrases = _phrases(words)
    looped = [any(squeezed[a:b]) for a, b in phrases]
    # A loop's first copy may come out with times of its own (there, "extranjosa" lasted
    # 0.46 s): a phrase written again word for word beside a looped copy is the loop too.
    keys = [tuple(_key(w.text) for w in words[a:b]) for a, b in phrases]
    for k in range(len(phrases)):
        beside = [n for n in (k - 1, k + 1) if 0 <= n < len(phrases)]
        if any(looped[n] and keys[n] == keys[k] for n in beside):
            looped[k] = True
    out = [False] * len(words)
    for (a, b), flag in zip(phrases, looped, strict=True):
        out[a:b] = [flag] * (b - a)
    return out


def _in_loop_copies(words: Sequence[Word], squeezed: Sequence[bool]) -> list[bool]:
    """Per word: in a loop's copy, a phrase that holds a squeezed run and repeats word for
    word the phrase beside it. Its words are the decoder's memory of the phrase, not
    what it heard there: they must anchor nothing. Trusting them less was not enough:
    on one machine's decode of Fantasma the chorus came out twice over the "ooh"
    passage ("es muy extranida de la" squeezed, "La" at p=0.00), and the last chorus,
    heard there as "A ti sensas muy extraño", lost "la tristeza" to those copies, 22
    and 32 s early. A phrase beside a copy that holds no squeezed run is left alone: it
    is most likely the line really sung (there, the chorus before the "ooh")."""
    phrases = _phrases(words)
    keys = [tuple(_key(w.text) for w in words[a:b]) for a, b in phrases]
    out = [False] * len(words)
    for k, (a, b) in enumerate(phrases):
        if not any(squeezed[a:b]):
            continue
        beside = [n for n in (k - 1, k + 1) if 0 <= n < len(phrases)]
        if any(keys[n] == keys[k] for n in beside):
            out[a:b] = [True] * (b - a)
    return out


def _trust(words: Sequence[Word], looped: Sequence[bool] | None = None) -> list[float]:
    """How far a decoded word can be believed: its probability, less for a squeezed one
    and for one of a looped phrase (``looped``).

    Hallucinated repeats come out with low probabilities and words of a few
    milliseconds each; a word heard is rarely shorter than SQUEEZED_SECONDS.
    """
    out = []
    for k, w in enumerate(words):
        p = 0.5 if w.probability is None else min(max(w.probability, 0.0), 1.0)
        squeezed = w.end - w.start < SQUEEZED_SECONDS or (looped is not None and looped[k])
        out.append((TRUST_BASE + p) * (SQUEEZED_TRUST if squeezed else 1.0))
    return out


def _anchors(lyrics: Lyrics, decoded: Sequence[Word]) -> tuple[list[Word], list[tuple[int, int]]]:
    """The decode's words as matched (joined, squeezed runs dropped) and the pairs
    (lyric index, decoded index) that anchor the user's words to them.

    A loop's copies (``_in_loop_copies``) stay among the words, which still say where the
    singer was heard (``place_words`` puts unanchored lines there), but are not matched.
    """
    joined = [w for w in join_split_words(decoded) if _key(w.text)]
    squeezed = _in_squeezed_runs(joined)
    copies = _in_loop_copies(joined, squeezed)
    looped = _in_looped_phrases(joined, squeezed)
    kept = [k for k, sq in enumerate(squeezed) if not sq]
    heard = [joined[k] for k in kept]
    matched = [i for i, k in enumerate(kept) if not copies[k]]
    candidates = [heard[i] for i in matched]
    pairs = match_words(
        [w.key for w in lyrics.words],
        [_key(w.text) for w in candidates],
        trust=_trust(candidates, [looped[kept[i]] for i in matched]),
    )
    return heard, [(li, matched[di]) for li, di in pairs]


def lyric_words_heard(text: str, decoded: Sequence[Word]) -> int:
    """How many of the user's words ``decoded`` anchors: what ``align`` will anchor, from
    the words alone (no audio), so attempts can be compared before aligning one."""
    return len(_anchors(parse_lyrics(text), decoded)[1])


def align_text(
    lyrics: Lyrics,
    decoded: Sequence[Word],
    duration: float,
    voiced: Sequence[tuple[float, float]] = (),
    fallback: Sequence[tuple[float, float]] = (),
) -> list[Timing]:
    """Steps 1 and 2: anchors from the decode, every other word filled between them
    (``voiced`` and ``fallback``: see ``_fill_gap``)."""
    heard, pairs = _anchors(lyrics, decoded)
    placed = place_words(lyrics, heard, pairs, duration, voiced, fallback)
    return snap_onsets(placed, used_spans(voiced, fallback, placed))


def used_spans(
    voiced: Sequence[tuple[float, float]],
    fallback: Sequence[tuple[float, float]],
    timings: Sequence[Timing],
) -> list[tuple[float, float]]:
    """Where the words are sung: ``voiced``, and the ``fallback`` stretches words went to."""
    starts = sorted(t.start for t in timings)
    extra = [
        (a, b)
        for a, b in fallback
        if bisect.bisect_left(starts, a) < len(starts) and starts[bisect.bisect_left(starts, a)] < b
    ]
    merged: list[tuple[float, float]] = []
    for a, b in sorted([*voiced, *extra]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def snap_onsets(timings: Sequence[Timing], voiced: Sequence[tuple[float, float]]) -> list[Timing]:
    """A word that starts in silence starts where its voice does, when that is before its
    end; one that spans a silence of WORD_SILENCE_SECONDS starts after it.

    Whisper's timestamps stretch the first word after a pause back into the pause.
    """
    if not voiced:
        return list(timings)
    starts = [a for a, _b in voiced]
    out: list[Timing] = []
    for t in timings:
        k = bisect.bisect_right(starts, t.start) - 1
        inside = k >= 0 and voiced[k][1] > t.start
        if not inside and k + 1 < len(voiced) and voiced[k + 1][0] < t.end:
            k += 1
            t = replace(t, start=voiced[k][0])
        # Nor is a word sung across a long silence: one that spans one starts after it.
        # Forced alignment gives a window's first word all the silence before the voice
        # (Fantasma's first "ooh" lasted 19 s, from the end of the verse before it).
        while k >= 0 and k + 1 < len(voiced) and voiced[k + 1][0] < t.end:
            if voiced[k + 1][0] - max(voiced[k][1], t.start) >= WORD_SILENCE_SECONDS:
                t = replace(t, start=voiced[k + 1][0])
            k += 1
        out.append(t)
    return out


# A voiced stretch of the stem counts as sung only where the decoder heard a word
# within this many seconds: stems of loud guitars carry their solos too.
HEARD_REACH_SECONDS = 2.0


def heard_spans(
    voiced: Sequence[tuple[float, float]], decoded: Sequence[Word]
) -> list[tuple[float, float]]:
    """The voiced stretches the decoder heard words in (within HEARD_REACH_SECONDS)."""
    heard = [
        (w.start - HEARD_REACH_SECONDS, w.end + HEARD_REACH_SECONDS)
        for w in drop_squeezed_runs(decoded)
    ]
    out = []
    for a, b in voiced:
        pieces = [(max(a, x), min(b, y)) for x, y in heard if y > a and x < b]
        if pieces:
            out.append((min(p[0] for p in pieces), max(p[1] for p in pieces)))
    return out


def voiced_spans(samples: npt.NDArray[np.float32], rate: int = 16_000) -> list[tuple[float, float]]:
    """Where a vocal stem carries sound, in seconds: 50 ms frames within VOICE_RANGE_DB of
    the stem's loud level (and above VOICE_FLOOR_DBFS), short gaps bridged.

    On a stem this is where the singer is; the speech detector (Silero) misses sung
    passages that the stem plainly carries (measured: a whole chorus of the shared song).
    On a full mix it marks nearly everything, which spreads words evenly: no harm done.
    """
    frame = rate // 20
    count = len(samples) // frame
    if count == 0:
        return []
    frames = np.asarray(samples[: count * frame], dtype=np.float64).reshape(count, frame)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = float(np.percentile(level, 95))
    on = level > max(VOICE_FLOOR_DBFS, loud - VOICE_RANGE_DB)
    spans: list[tuple[float, float]] = []
    k = 0
    while k < count:
        if not on[k]:
            k += 1
            continue
        j = k
        while j < count and on[j]:
            j += 1
        start, end = k * frame / rate, j * frame / rate
        if spans and start - spans[-1][1] <= VOICE_BRIDGE_SECONDS:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        k = j
    return [(a, b) for a, b in spans if b - a >= VOICE_MIN_SECONDS]


# ---------------------------------------------------------------- forced alignment


class ForcedAligner(Protocol):
    """Places given words in windows of audio (at most WINDOW_SECONDS each)."""

    def align_windows(
        self,
        samples: npt.NDArray[np.float32],
        windows: Sequence[tuple[float, float, Sequence[str]]],
        language: str,
    ) -> list[list[tuple[float, float, float]]]:
        """Per window (start s, end s, words as shown): (start, end, probability) per
        word, in seconds from the start of the audio; for its leading words only when
        the rest do not fit in the model's text (MAX_TEXT_TOKENS)."""
        ...


def windows_for(
    lyrics: Lyrics, timings: Sequence[Timing], duration: float
) -> list[tuple[float, float, list[int]]]:
    """Consecutive whole lines grouped into windows: (start, end, word indices)."""
    per_line: dict[int, list[int]] = {}
    for i, w in enumerate(lyrics.words):
        per_line.setdefault(w.line, []).append(i)
    windows: list[tuple[float, float, list[int]]] = []
    current: list[int] = []
    lo = hi = 0.0
    for line in sorted(per_line):
        idx = per_line[line]
        start, end = timings[idx[0]].start, timings[idx[-1]].end
        if current and end + WINDOW_PAD_SECONDS - (lo - WINDOW_PAD_SECONDS) <= WINDOW_SECONDS:
            current.extend(idx)
            hi = max(hi, end)
            continue
        if current:
            windows.append((lo, hi, current))
        current, lo, hi = list(idx), start, end
    if current:
        windows.append((lo, hi, current))
    out: list[tuple[float, float, list[int]]] = []
    for lo, hi, idx in windows:
        start = max(0.0, lo - WINDOW_PAD_SECONDS)
        end = min(duration, max(hi + WINDOW_PAD_SECONDS, start + 1.0), start + WINDOW_SECONDS)
        out.append((start, end, idx))
    return out


def refine(
    lyrics: Lyrics,
    timings: Sequence[Timing],
    samples: npt.NDArray[np.float32],
    aligner: ForcedAligner,
    language: str,
    duration: float,
    voiced: Sequence[tuple[float, float]] = (),
    max_shift: float = FORCED_MAX_SHIFT_SECONDS,
) -> list[Timing]:
    """Step 3: forced times for every word, except an anchor's that strays past ``max_shift``."""
    windows = windows_for(lyrics, timings, duration)
    placed = aligner.align_windows(
        samples,
        [(lo, hi, [lyrics.words[i].text for i in idx]) for lo, hi, idx in windows],
        language,
    )
    # An unanchored word's forced time must fall between its neighbouring anchors.
    before = [0.0] * len(timings)
    after = [duration] * len(timings)
    last = 0.0
    for i, t in enumerate(timings):
        before[i] = last
        if t.anchored:
            last = t.start
    last = duration
    for i in range(len(timings) - 1, -1, -1):
        after[i] = last
        if timings[i].anchored:
            last = timings[i].end
    out = list(timings)
    for (_lo, _hi, idx), found in zip(windows, placed, strict=True):
        if len(found) != len(idx):
            continue
        for i, (start, end, probability) in zip(idx, found, strict=True):
            rough = timings[i]
            if rough.anchored:
                if abs(start - rough.start) > max_shift:
                    continue
            elif not before[i] - max_shift <= start <= after[i] + max_shift:
                continue
            out[i] = Timing(start, end, rough.anchored, probability)
    # Whisper's alignment lets a window's first word swallow the silence before it.
    return _monotone(snap_onsets(out, voiced), duration)


def sequential(
    lyrics: Lyrics,
    timings: Sequence[Timing],
    samples: npt.NDArray[np.float32],
    aligner: ForcedAligner,
    language: str,
    duration: float,
    voiced: Sequence[tuple[float, float]] = (),
    span: tuple[int, int, float, float] | None = None,
    back: float | None = None,
) -> list[Timing]:
    """Forced alignment window after window through the song, each window starting where
    the last placed word ended (or at the next voiced stretch), given more words than
    it can hold; the words placed well inside it are kept, the rest go to the next.

    ``span``: (first word, past the last word, from, to): only those words, only there.
    ``back``: when given, no window starts, and no word is placed, more than this before
    the word's estimate (``SEQ_BACK_SECONDS``: for estimates the stem's silences informed).
    """
    first, n, lo, duration = span or (0, len(lyrics.words), 0.0, duration)
    out = list(timings)
    starts = [a for a, _b in voiced]
    # The first window starts at the first word's estimate, or at the voice after it:
    # the first voice after ``lo`` is no evidence on a mix, where every instrument is
    # voice (Le royaume's missed first word went 22 s early, to the intro).
    head = next((a for a, b in voiced if b > lo), None) if voiced else None
    start = timings[first].start if head is None else max(head, timings[first].start)
    cursor = max(lo, start - SEQ_LEAD_SECONDS)
    i = first
    while i < n:
        if back is not None:
            cursor = max(cursor, timings[i].start - back)
        if voiced:
            k = bisect.bisect_right(starts, cursor) - 1
            if k < 0 or voiced[k][1] <= cursor:  # in a silence: on to the next voice
                nxt = k + 1
                if nxt < len(voiced):
                    cursor = max(cursor, voiced[nxt][0] - SEQ_LEAD_SECONDS)
        end = min(duration, cursor + WINDOW_SECONDS)
        last_window = end >= duration - 0.5
        j = i
        while j < n and (j - i < SEQ_MIN_WORDS or timings[j].start < end + SEQ_LOOKAHEAD_SECONDS):
            j += 1
        j = min(max(j, i + 1), n)
        (found,) = aligner.align_windows(
            samples, [(cursor, end, [w.text for w in lyrics.words[i:j]])], language
        )
        if not found or len(found) > j - i:  # a prefix when the rest did not fit
            break
        accepted = 0
        for k2, (start, stop, probability) in enumerate(found):
            if not last_window and start > end - SEQ_MARGIN_SECONDS and accepted:
                break
            if back is not None and accepted and start < timings[i + k2].start - back:
                break  # crammed in early: this word starts the next window, nearer its estimate
            out[i + k2] = Timing(start, stop, timings[i + k2].anchored, probability)
            accepted += 1
        i += accepted
        cursor = max(cursor + 1.0, out[i - 1].end) if not last_window else duration
        if last_window:
            break
    if span is not None:
        return out
    return _monotone(snap_onsets(out, voiced), duration)


def strong_anchors(timings: Sequence[Timing], run: int = STRONG_RUN) -> list[bool]:
    """Anchors in runs of ``run`` or more consecutive anchored words: a lone match of a
    short word to a decoder's invention is no evidence of where the line is."""
    strong = [False] * len(timings)
    i = 0
    while i < len(timings):
        j = i
        while j < len(timings) and timings[j].anchored:
            j += 1
        if j - i >= run:
            strong[i:j] = [True] * (j - i)
        i = max(j, i + 1)
    return strong


def hybrid(
    lyrics: Lyrics,
    timings: Sequence[Timing],
    samples: npt.NDArray[np.float32],
    aligner: ForcedAligner,
    language: str,
    duration: float,
    voiced: Sequence[tuple[float, float]] = (),
    back: float | None = None,
) -> list[Timing]:
    """Strong anchors keep the decode's times; each run of words between two of them is
    placed by sequential forced alignment within the time between them (``back``: see
    ``sequential``)."""
    strong = strong_anchors(timings)
    out = list(timings)
    n = len(timings)
    i = 0
    while i < n:
        if strong[i]:
            i += 1
            continue
        j = i
        while j < n and not strong[j]:
            j += 1
        lo = timings[i - 1].end if i > 0 else 0.0
        hi = timings[j].start if j < n else duration
        if hi - lo > MIN_WORD_SECONDS * (j - i):
            out = sequential(
                lyrics, out, samples, aligner, language, duration, voiced, (i, j, lo, hi), back
            )
        i = j
    return _monotone(snap_onsets(out, voiced), duration)


# Whisper's decoder holds this many tokens, the start of transcript sequence included;
# CTranslate2's align fails on a window given more.
MAX_TEXT_TOKENS = 448
# Positions align takes beyond the start of transcript sequence and the words: one
# short of this still failed (position 448), so the end of text and one more.
ALIGN_EXTRA_TOKENS = 2


def fitting_words(per_word: Sequence[list[int]], room: int) -> list[list[int]]:
    """The leading words whose tokens fit in ``room``: a window's words past the
    decoder's limit are left for the next window (``sequential``) or the window is
    skipped (``refine``, which wants every word of its lines)."""
    out: list[list[int]] = []
    used = 0
    for tokens in per_word:
        used += len(tokens)
        if used > room:
            break
        out.append(tokens)
    return out


class WhisperForcedAligner:
    """ForcedAligner over a loaded ``faster_whisper.WhisperModel`` (CTranslate2's ``align``)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def align_windows(
        self,
        samples: npt.NDArray[np.float32],
        windows: Sequence[tuple[float, float, Sequence[str]]],
        language: str,
    ) -> list[list[tuple[float, float, float]]]:
        from faster_whisper.audio import pad_or_trim  # type: ignore[import-untyped]
        from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]

        model = self.model
        rate = int(model.feature_extractor.sampling_rate)
        tokenizer = Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=language if model.model.is_multilingual else None,
        )
        results: list[list[tuple[float, float, float]]] = []
        for start, end, words in windows:
            chunk = samples[int(start * rate) : int(end * rate)]
            if not words or len(chunk) < rate // 10:
                results.append([])
                continue
            per_word = fitting_words(
                [tokenizer.encode(w) or tokenizer.encode(w.strip()) for w in words],
                int(getattr(model, "max_length", MAX_TEXT_TOKENS))
                - len(tokenizer.sot_sequence)
                - ALIGN_EXTRA_TOKENS,
            )
            tokens = [t for word in per_word for t in word]
            if not tokens:
                results.append([])
                continue
            features = model.feature_extractor(chunk)
            frames = min(features.shape[-1], 3000)
            encoded = model.encode(pad_or_trim(features))
            (result,) = model.model.align(
                encoded, tokenizer.sot_sequence, [tokens], frames, median_filter_width=7
            )
            pairs = np.array(result.alignments)
            if pairs.size == 0:
                results.append([])
                continue
            jumps = np.pad(np.diff(pairs[:, 0]), (1, 0), constant_values=1).astype(bool)
            jump_times = pairs[:, 1][jumps] / float(model.tokens_per_second)
            probs = np.array(result.text_token_probs, dtype=np.float64)
            bounds = np.concatenate([[0], np.cumsum([len(t) for t in per_word])])
            if len(jump_times) < bounds[-1] + 1:
                results.append([])
                continue
            out = []
            for a, b in itertools.pairwise(bounds):
                word_probs = probs[a:b]
                out.append(
                    (
                        start + float(jump_times[a]),
                        start + float(jump_times[b]),
                        float(word_probs.mean()) if word_probs.size else 0.0,
                    )
                )
            results.append(out)
        return results


def forced_aligner_of(engine: object) -> ForcedAligner | None:
    """The engine's forced aligner: faster-whisper's model, looked for through wrappers."""
    seen = 0
    while engine is not None and seen < 4:
        model = getattr(engine, "_model", None)
        if model is not None and hasattr(getattr(model, "model", None), "align"):
            return WhisperForcedAligner(model)
        engine = getattr(engine, "inner", None)
        seen += 1
    return None


# ---------------------------------------------------------------- the whole step


METHODS = ("text", "forced", "sequential", "hybrid")
# Chosen on the four development songs (benchmarks/alignment.py, README).
DEFAULT_METHOD = "hybrid"


def align(
    text: str,
    decoded: Sequence[Word],
    duration: float,
    samples: npt.NDArray[np.float32] | None = None,
    aligner: ForcedAligner | None = None,
    language: str | None = None,
    method: str = DEFAULT_METHOD,
) -> Aligned:
    """The user's lyrics ``text`` timed on the audio: lines, words, and how many were anchored.

    ``method``: "text" uses the decode alone (and the stem's voiced stretches when
    ``samples`` are given); the others also run ``aligner`` on ``samples``: "forced" in
    windows around the lines' estimated times, "sequential" window after window
    through the song, "hybrid" sequentially between runs of anchors. Without an aligner
    or samples every method is "text".
    """
    if method not in METHODS:
        raise ValueError(f"unknown alignment method {method!r}")
    lyrics = parse_lyrics(text)
    stem = voiced_spans(samples) if samples is not None and len(samples) else []
    heard = heard_spans(stem, decoded)
    timings = align_text(lyrics, decoded, duration, heard, stem)
    voiced = used_spans(heard, stem, timings)
    used = "text"
    if method != "text" and aligner is not None and samples is not None and lyrics.words:
        args = (lyrics, timings, samples, aligner, language or "en", duration, voiced)
        if method == "forced":
            timings = refine(*args)
        else:
            # On a mix every instrument is voice and the estimates are words spread
            # evenly: no evidence to hold the forced alignment to (held to them, the
            # standard attempts' mean went 1.08 -> 3.14 s).
            informs = bool(stem) and not _covered(stem, 0.0, duration)
            back = SEQ_BACK_SECONDS if informs else None
            timings = (sequential if method == "sequential" else hybrid)(*args, back=back)
        used = method
    anchored = sum(1 for t in timings if t.anchored)
    return Aligned(segments_of(lyrics, timings), len(lyrics.words), anchored, used)


class _Attempt(Protocol):
    @property
    def pipeline(self) -> str: ...
    @property
    def transcript(self) -> Transcript: ...


class _Engines(Protocol):
    @property
    def standard(self) -> Callable[[], object]: ...
    @property
    def vintage(self) -> Callable[[], object]: ...
    @property
    def separator(self) -> Callable[[], Separator]: ...


def align_winner(text: str, winner: _Attempt, audio_path: Path, engines: _Engines) -> Aligned:
    """``text`` aligned on what the winning attempt heard: the vocal stem for a vintage
    attempt (separated again: the attempt keeps no audio), else the mix; with the
    attempt's own model as the forced aligner when it has one (a remote engine has
    none: then the decode's words alone place the lyrics)."""
    from textfromtrack.media.decode import decode_audio
    from textfromtrack.pipeline.separation.stem import vocal_stem

    transcript = winner.transcript
    if winner.pipeline == "vintage":
        samples = vocal_stem(engines.separator(), audio_path).samples
        engine = engines.vintage()
    else:
        samples = decode_audio(audio_path, 16_000, 1)
        engine = engines.standard()
    return align(
        text,
        transcript.words,
        transcript.duration_seconds or len(samples) / 16_000,
        samples=samples,
        aligner=forced_aligner_of(engine),
        language=transcript.language,
    )
