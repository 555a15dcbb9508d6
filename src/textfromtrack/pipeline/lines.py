"""Rebuilds lyric-sized lines from word timings.

Whisper's own segments run to 30 s windows (far longer with batched inference);
subtitles and karaoke want short lines that start when the singer starts. Two
policies:

- ``SPEECH`` (``LineLimits``): lines break at pauses and sentence punctuation, and
  never exceed the length limits; a line that must break early breaks at its last
  clause mark when it has one. Greedy, word by word.
- ``SUNG`` (``SungLines``): measured on the dev set's annotated song lines
  (benchmarks/lines.py). Singers run lines together (half the annotated line
  boundaries have under 0.15 s of silence, against 0.25 s at the 95th percentile
  inside lines), and Whisper on sung vocals writes a period or a comma every few
  words. So no single cue decides: every place between two words earns a score for
  breaking there (the silence, a punctuation mark before it, a capital after it),
  every line costs a fixed amount, and the cheapest split of the whole song wins
  (dynamic programming), within a length cap that fits sung lines and with no
  one-word lines unless the word stands alone in time.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from textfromtrack.pipeline.types import Segment, Word

SENTENCE_END = tuple(".!?。！？…")
CLAUSE_END = tuple(",;:，、；：")


@dataclass(frozen=True)
class LineLimits:
    """The speech policy: greedy breaks at pauses and sentence ends, within caps."""

    max_chars: int = 42
    max_seconds: float = 7.0
    # A silence this long between two words starts a new line.
    pause_seconds: float = 0.6

    def build(self, words: Iterable[Word]) -> list[list[Word]]:
        return build_lines(words, self)


@dataclass(frozen=True)
class SungLines:
    """The sung-lyrics policy. Every value was measured on the four dev-set songs together
    (benchmarks/lines.py); the comments say what each stands for.
    """

    # 42: the usual subtitle line (and the speech policy's), the annotated lines'
    # 75th percentile (median 33). 48-60 ran lines together (Mes Larmes, and the
    # annotated words of three songs) and gained on no song.
    max_chars: int = 42
    # 95% of the annotated lines last under 4.5 s; 7 s (speech) merged lines on
    # the slow song (Fantasma), 4.5 s cut its held lines in two.
    max_seconds: float = 5.0
    # What each line costs: a break is taken when its score beats this.
    line_cost: float = 1.0
    # Score per second of silence before a word, counted up to pause_cap_seconds:
    # a 0.5 s pause alone is worth a line, longer ones are sure breaks anyway. The
    # annotated songs: 5% of the silences inside lines pass 0.25 s, a quarter of
    # those between lines pass 0.37 s. Weight 1 lost lines on the mix and the
    # annotated words; 2 and 3 scored alike.
    pause_weight: float = 2.0
    pause_cap_seconds: float = 1.5
    # A sentence or clause mark before the break: Whisper marks phrase ends, but on
    # sung vocals too often (a period every three words) to break at each.
    punctuation_weight: float = 1.0
    # A capital on the word after the break: Whisper starts its sentences with one,
    # and on the stem its sentences start sung lines even where it wrote no period
    # ("...d'aide Tu mets..."). Alone (0.8 < 1) it breaks nothing; with a short pause
    # or a full line it decides where. Without it Fantasma lost 2 of its 17 lines.
    # (German capitalises nouns: there it only moves breaks the caps force.)
    capital_weight: float = 0.8
    # Lines shorter than this pay short_weight per second missing: a sung line is a
    # phrase, not a word or two (annotated lines: 5th percentile 0.85 s).
    short_seconds: float = 1.0
    short_weight: float = 1.0
    # A one-word line only when the word has this much silence on both sides (an
    # ad-lib, a shout); else it joins a neighbour. Costs `orphan_cost` otherwise.
    # 1.0 s left more orphans on the mix and the annotated words than 1.5 s.
    alone_seconds: float = 1.5
    orphan_cost: float = 100.0
    # Or when it is a shout: a word the recogniser was sure of and closed with a mark
    # of its own, with some silence on both sides ("Ok.", "Santos,", "sencillo,").
    # The annotated songs have such one-word lines; the unsure ones (p < 0.3) were
    # Whisper guessing at ad-libs inside a sung line ("Valeo." p=0.02). Which mark, and
    # whether a capital, varies with the decode: one machine's Guayeteo wrote "Ok."
    # and "Santos.", another's "Ok," and "Santos," (a sentence mark and a capital
    # alone: 0.65 of its lines within 1 s; any mark, 0.71; no song lost a line).
    shout_seconds: float = 0.2
    shout_probability: float = 0.3
    # Whisper's word timing (attention alignment) stretches the first word after a
    # silence back over it: on the vocal stem "Un" lasted 1.04 s and the singer
    # started 0.6 s after its start. A line's first word is held to this long
    # (0.2 s plus 0.15 s per letter, a slow sung syllable per 3 letters); the word
    # and so the line start later, later words are left as they are. Fantasma's
    # median start error went from 0.49 s to 0.27 s; no song lost a line.
    lead_seconds: float = 0.2
    lead_per_letter: float = 0.15

    def build(self, words: Iterable[Word]) -> list[list[Word]]:
        return build_sung_lines(words, self)


LinePolicy = LineLimits | SungLines

SPEECH = LineLimits()
SUNG = SungLines()


def line_text(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words).strip()


def _wide(char: str) -> bool:
    """A CJK (wide) character: a word on its own, written without spaces."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def continues_word(word: Word) -> bool:
    """Whether this token is the rest of the word before it: Whisper splits "n'a" into
    " n" and "'a"; Chinese and Japanese words, written without spaces, stand alone."""
    text = word.text
    stripped = text.strip()
    return not text[:1].isspace() and not (stripped and _wide(stripped[0]))


def visible_words(words: Sequence[Word]) -> int:
    """Words as a reader counts them (``continues_word``)."""
    return sum(1 for i, word in enumerate(words) if i == 0 or not continues_word(word))


def _ends_with(word: Word, marks: tuple[str, ...]) -> bool:
    return word.text.rstrip().endswith(marks)


def _split_long(line: list[Word], limits: LineLimits) -> tuple[list[Word], list[Word]]:
    """Where to cut an overflowing line: its last clause mark past a third, else its end."""
    for i in range(len(line) - 1, 0, -1):
        if (
            _ends_with(line[i - 1], CLAUSE_END)
            and i >= len(line) / 3
            and not continues_word(line[i])
        ):
            return line[:i], line[i:]
    return line, []


def build_lines(words: Iterable[Word], limits: LineLimits | None = None) -> list[list[Word]]:
    limits = limits or LineLimits()
    lines: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if not word.text.strip():
            continue
        if continues_word(word) and not current and lines:
            lines[-1].append(word)  # the rest of a word that ended a sentence
            continue
        if current and not continues_word(word):  # the rest of a word stays on its line
            gap = word.start - current[-1].end
            too_long = len(line_text([*current, word])) > limits.max_chars
            too_slow = word.end - current[0].start > limits.max_seconds
            if gap >= limits.pause_seconds:
                lines.append(current)
                current = []
            elif too_long or too_slow:
                done, rest = _split_long(current, limits)
                lines.append(done)
                current = rest
        current.append(word)
        if _ends_with(word, SENTENCE_END):
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    return lines


def starts_capitalised(word: Word) -> bool:
    """A capital first letter, other than English "I" (capital wherever it stands)."""
    text = word.text.strip()
    letters = [c for c in text if c.isalpha()]
    if not letters or not letters[0].isupper():
        return False
    bare = text.strip(".,;:!?\"'()«»¡¿")
    return not (bare == "I" or bare.startswith(("I'", "I’")))


def _break_score(before: Word, after: Word, policy: SungLines) -> float:
    """What breaking between ``before`` and ``after`` earns."""
    gap = min(max(after.start - before.end, 0.0), policy.pause_cap_seconds)
    score = policy.pause_weight * gap
    if _ends_with(before, SENTENCE_END) or _ends_with(before, CLAUSE_END):
        score += policy.punctuation_weight
    if starts_capitalised(after):
        score += policy.capital_weight
    return score


def _may_stand_alone(line: Sequence[Word], silence: float, policy: SungLines) -> bool:
    """May this one-word line (``silence``: the shorter gap around it) be a line?"""
    if silence >= policy.alone_seconds:
        return True
    last = line[-1]
    sure = last.probability is not None and last.probability >= policy.shout_probability
    return (
        silence >= policy.shout_seconds
        and sure
        and (_ends_with(last, SENTENCE_END) or _ends_with(last, CLAUSE_END))
    )


def _letters(text: str) -> int:
    # A CJK character is a syllable: three Latin letters' worth of singing.
    return sum(3 if _wide(c) else 1 for c in text if c.isalnum())


def _held_start(word: Word, policy: SungLines) -> Word:
    longest = policy.lead_seconds + policy.lead_per_letter * _letters(word.text)
    if word.end - word.start <= longest:
        return word
    return replace(word, start=word.end - longest)


def build_sung_lines(words: Iterable[Word], policy: SungLines | None = None) -> list[list[Word]]:
    """The cheapest split into lines: line costs minus break scores, over the whole song.

    best[j] is the cheapest split of the first j words; a line words[i:j] is tried for
    every i back until the line would pass a cap (a single word always may, so a split
    always exists); a line starts only where a word does. Lines stay within the caps,
    which bound the work per word.
    """
    policy = policy or SUNG
    ws = [w for w in words if w.text.strip()]
    n = len(ws)
    if n == 0:
        return []
    scores = [0.0] + [_break_score(ws[k - 1], ws[k], policy) for k in range(1, n)]
    # chars(i, j) == len(line_text(ws[i:j])), from running totals.
    totals = [0]
    for w in ws:
        totals.append(totals[-1] + len(w.text))
    lead = [len(w.text) - len(w.text.lstrip()) for w in ws]
    trail = [len(w.text) - len(w.text.rstrip()) for w in ws]
    # Where word k starts when it starts a line (``_held_start``): the line is timed, and
    # its silence before measured, as it will be shown. From the raw start, a word Whisper
    # stretched back over a silence ("el" over 7 s on Guayeteo's stem) made every line it
    # could start too long for the cap and left it a line of its own.
    opens = [_held_start(w, policy).start for w in ws]

    def gap(k: int) -> float:
        """Silence before word k as a line's first word; a song's edges count as silence."""
        return opens[k] - ws[k - 1].end if 0 < k < n else float("inf")

    # No line starts inside a word: Whisper split Mes Larmes' "s'appelle" into " s" and,
    # 3.2 s later, "'appelle", and the line broke between them.
    starts = [k == 0 or not continues_word(w) for k, w in enumerate(ws)]
    best = [0.0] + [float("inf")] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        if j < n and not starts[j]:
            continue  # no line may end here
        count = 0  # visible words in ws[i:j]: the word starts there (``visible_words``)
        for i in range(j - 1, -1, -1):
            if not starts[i]:
                continue
            count += 1
            chars = totals[j] - totals[i] - lead[i] - trail[j - 1]
            seconds = ws[j - 1].end - opens[i]
            one_word = count == 1
            if not one_word and (chars > policy.max_chars or seconds > policy.max_seconds):
                break
            cost = policy.line_cost - scores[i]
            cost += policy.short_weight * max(0.0, policy.short_seconds - seconds)
            if one_word and not _may_stand_alone(ws[i:j], min(gap(i), gap(j)), policy):
                cost += policy.orphan_cost
            if best[i] + cost < best[j]:
                best[j] = best[i] + cost
                back[j] = i
    lines: list[list[Word]] = []
    j = n
    while j > 0:
        i = back[j]
        lines.append([_held_start(ws[i], policy), *ws[i + 1 : j]])
        j = i
    lines.reverse()
    return lines


def segments_from_words(words: Iterable[Word], policy: LinePolicy | None = None) -> list[Segment]:
    """Lines as segments; ``policy`` defaults to ``SPEECH`` (``SUNG`` for sung vocals)."""
    chosen: LinePolicy = policy or SPEECH
    return [
        Segment(
            index=i, start=line[0].start, end=line[-1].end, text=line_text(line), words=tuple(line)
        )
        for i, line in enumerate(chosen.build(words))
    ]


def reindex(segments: Iterable[Segment]) -> list[Segment]:
    return [
        Segment(index=i, start=s.start, end=s.end, text=s.text, words=s.words)
        for i, s in enumerate(segments)
    ]
