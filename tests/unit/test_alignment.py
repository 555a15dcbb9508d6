"""Known lyrics, aligned: parsing, text-to-text matching, interpolation, forced steps."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from textfromtrack.config import Settings
from textfromtrack.jobs.processing import upload_plan
from textfromtrack.pipeline import alignment as al
from textfromtrack.pipeline import chinese, runner
from textfromtrack.pipeline.engines.base import TranscribeOptions
from textfromtrack.pipeline.types import Word


def words(*items: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, text, 0.9) for start, end, text in items]


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "lines", "shown"),
    [
        ("soy un fantasma", ["soy un fantasma"], [" soy", " un", " fantasma"]),
        # blank lines (and whitespace-only ones) are ignored; CRLF and CR break lines
        ("a b\r\n\r\n  \nc\rd", ["a b", "c", "d"], [" a", " b", " c", " d"]),
        # a line is kept as written, inner spacing included; only its ends are stripped
        ("  hola,  mundo!  ", ["hola,  mundo!"], [" hola,", " mundo!"]),
        # apostrophes stay inside their word (JamendoLyrics counts j'veux as one)
        ("j'veux zapper", ["j'veux zapper"], [" j'veux", " zapper"]),
        # unspaced scripts: one word per character, punctuation kept with its character
        ("你好，世界", ["你好，世界"], [" 你", "好，", "世", "界"]),
        ("la 東京 night", ["la 東京 night"], [" la", " 東", "京", " night"]),
        # a line of marks only has no word to time, but still parses
        ("...\nla", ["...", "la"], [" ...", " la"]),
    ],
)
def test_parse_lyrics(text: str, lines: list[str], shown: list[str]) -> None:
    parsed = al.parse_lyrics(text)
    assert list(parsed.lines) == lines
    assert [w.text for w in parsed.words] == shown


def test_parse_keeps_line_numbers() -> None:
    parsed = al.parse_lyrics("uno dos\n\ntres")
    assert [(w.line, w.key) for w in parsed.words] == [(0, "uno"), (0, "dos"), (1, "tres")]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "must not be empty"),
        ("   \n\t\r\n", "must not be empty"),
        ("a" * 20_001, "at most 20,000 characters"),
        ("a" * 20_000, None),
        ("la\x00la", "must be plain text (no control characters)"),
        ("\x1b[31mred", "must be plain text (no control characters)"),
        ("tab\tand\nbreaks\r\n", None),
        ("émoji 🎵 and 你好", None),
    ],
)
def test_check_lyrics(text: str, why: str | None) -> None:
    assert al.check_lyrics(text) == why


@pytest.mark.parametrize(
    ("token", "key"),
    [("Fantasma,", "fantasma"), ("sí", "si"), ("J'veux", "jveux"), ("ＡＢＣ", "abc"), ("—", "")],
)
def test_keys_ignore_case_accents_and_punctuation(token: str, key: str) -> None:
    assert al._key(token) == key


# ---------------------------------------------------------------- text to text


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("hola", "hola", 1.0),
        ("hola", "", 0.0),
        ("conejo", "coligo", 0.5),
        ("kitten", "sitting", 1 - 3 / 7),
    ],
)
def test_similarity(a: str, b: str, expected: float) -> None:
    assert al.similarity(a, b) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lyrics", "decoded", "pairs"),
    [
        # identical
        (["a", "b", "c"], ["a", "b", "c"], [(0, 0), (1, 1), (2, 2)]),
        # a misheard word still matches by spelling
        (["un", "conejo", "x"], ["un", "conejos", "x"], [(0, 0), (1, 1), (2, 2)]),
        # a word the decoder missed, one it invented
        (["uno", "dos", "tres"], ["uno", "y", "tres"], [(0, 0), (2, 2)]),
        # nothing alike: nothing matched
        (["aaaa"], ["zzzz"], []),
        # order is kept: a repeated word matches in order, never crossing
        (["la", "vie", "la"], ["la", "la"], [(0, 0), (2, 1)]),
        ([], ["a"], []),
    ],
)
def test_match_words(lyrics: list[str], decoded: list[str], pairs: list[tuple[int, int]]) -> None:
    assert al.match_words(lyrics, decoded) == pairs


def test_trust_prefers_the_chorus_really_heard() -> None:
    # The decoder wrote the chorus twice: once squeezed (a loop), once heard.
    decoded = words(
        (10.0, 10.01, " la"),
        (10.01, 10.02, " tristeza"),
        (20.0, 20.5, " la"),
        (20.5, 21.5, " tristeza"),
    )
    timings = al.align_text(al.parse_lyrics("la tristeza"), decoded, 30.0)
    assert [round(t.start, 2) for t in timings] == [20.0, 20.5]


def _phrase(at: float, texts: list[str], squeezed_from: int) -> list[Word]:
    """Words 0.5 s apart from ``at``; from index ``squeezed_from`` on, at one instant."""
    out, t = [], at
    for k, text in enumerate(texts):
        if k < squeezed_from:
            out.append(Word(t, t + 0.5, text, 0.3))
            t += 0.5
        else:
            out.append(Word(t, t, text, 0.05))
    return out


CHORUS = [" La", " tristeza", " es", " muy", " extranjosa"]


@pytest.mark.parametrize(
    ("decoded", "looped"),
    [
        # a phrase ending in a squeezed run: all of it
        (_phrase(10.0, CHORUS, 2), [True] * 5),
        # two squeezed words are no run: nothing
        (_phrase(10.0, CHORUS, 3), [False] * 5),
        # a pause of 1 s or more ends the phrase: the words before it are not the loop
        (_phrase(5.0, [" hola"], 1) + _phrase(10.0, CHORUS, 2), [False] + [True] * 5),
        # the loop's first copy, with times of its own, written again word for word
        # beside a looped copy: the loop too
        (_phrase(10.0, CHORUS, 4) + _phrase(20.0, CHORUS, 2), [True] * 10),
        # the same words far from any looped copy: a chorus, not a loop
        (
            _phrase(10.0, CHORUS, 5) + _phrase(20.0, [" otra"], 1) + _phrase(30.0, CHORUS, 2),
            [False] * 6 + [True] * 5,
        ),
        ([], []),
    ],
)
def test_looped_phrases(decoded: list[Word], looped: list[bool]) -> None:
    assert al._in_looped_phrases(decoded) == looped


def test_a_loops_first_copy_does_not_take_the_chorus_heard_later() -> None:
    # Fantasma's case: the loop wrote the line three times over the "ooh"s, its first
    # copy with times of its own; the real line, heard worse, comes 20 s later.
    decoded = (
        _phrase(100.0, CHORUS, 4)
        + _phrase(110.0, CHORUS, 2)
        + _phrase(120.0, CHORUS, 2)
        + words((130.3, 131.2, " la"), (131.2, 132.0, " tristesa"), (133.2, 133.9, " muy"))
        + words((133.9, 135.2, " extraña"))
    )
    # Unweighted, the first copy's exact "la tristeza es" (1.2) outweighs the real
    # line's "la tristesa" (0.875); as the loop it is (x 0.3), it does not.
    timings = al.align_text(al.parse_lyrics("la tristeza es muy extraña"), decoded, 150.0)
    assert all(t.start > 129 for t in timings), [round(t.start, 1) for t in timings]


@pytest.mark.parametrize(
    ("decoded", "copies"),
    [
        # a looped phrase alone: the loop, but no copy of anything
        (_phrase(10.0, CHORUS, 2), [False] * 5),
        # written twice over, squeezed each time: both are copies
        (_phrase(10.0, CHORUS, 2) + _phrase(20.0, CHORUS, 2), [True] * 10),
        # the line really sung, then the decoder's copy of it: only the copy
        (_phrase(10.0, CHORUS, 5) + _phrase(20.0, CHORUS, 2), [False] * 5 + [True] * 5),
        # the same line twice, neither squeezed: a chorus sung twice
        (_phrase(10.0, CHORUS, 5) + _phrase(20.0, CHORUS, 5), [False] * 10),
        # a squeezed phrase beside a different one: no copy
        (_phrase(10.0, CHORUS, 5) + _phrase(20.0, CHORUS[:4], 1), [False] * 9),
        ([], []),
    ],
)
def test_loop_copies(decoded: list[Word], copies: list[bool]) -> None:
    assert al._in_loop_copies(decoded, al._in_squeezed_runs(decoded)) == copies


def test_a_loops_copies_anchor_nothing_but_say_where_the_singer_was_heard() -> None:
    # Fantasma on another machine: the chorus sung at 70 s, written twice more over the
    # "ooh" passage (100-115 s), and the last chorus misheard at 130 s.
    decoded = (
        _phrase(70.0, CHORUS, 5)
        + _phrase(100.0, CHORUS, 2)
        + _phrase(110.0, CHORUS, 2)
        + words((130.3, 131.2, " a"), (131.2, 132.0, " ti"), (133.2, 133.9, " muy"))
        + words((133.9, 135.2, " extraña"))
    )
    text = "la tristeza es muy extraña\nooh ooh\nla tristeza es muy extraña"
    voiced = [(70.0, 73.0), (100.0, 116.0), (130.0, 136.0)]
    timings = al.align_text(al.parse_lyrics(text), decoded, 150.0, voiced=voiced)
    starts = [round(t.start, 1) for t in timings]
    assert timings[0].start == 70.0 and all(t.anchored for t in timings[:5]), starts
    # The copies anchored none of the last chorus: its words are by its own.
    assert all(t.start > 129 for t in timings[7:]), starts
    assert not any(t.anchored for t in timings[5:7]), starts
    # Its copies still say the singer was heard there: the "ooh"s start on them.
    assert 99 <= timings[5].start < 116, starts
    assert al.lyric_words_heard(text, decoded) == 7  # 5 + "muy extraña"


def test_join_split_words_rejoins_apostrophes() -> None:
    decoded = words((1.0, 1.2, " J"), (1.2, 1.6, "'ai"), (1.7, 2.0, " mis"), (2.0, 2.2, "你"))
    joined = al.join_split_words(decoded)
    assert [(w.text, w.start, w.end) for w in joined] == [
        (" J'ai", 1.0, 1.6),
        (" mis", 1.7, 2.0),
        ("你", 2.0, 2.2),
    ]


def test_drop_squeezed_runs() -> None:
    loop = [Word(5.0 + i * 0.01, 5.0 + (i + 1) * 0.01, f" w{i}") for i in range(4)]
    fine = words((1.0, 1.5, " a"), (7.0, 7.5, " b"), (8.0, 8.01, " c"), (9.0, 9.5, " d"))
    kept = al.drop_squeezed_runs([fine[0], *loop, *fine[1:]])
    assert [w.text for w in kept] == [" a", " b", " c", " d"]  # a lone short word stays


# ---------------------------------------------------------------- interpolation


def _starts(text: str, decoded: list[Word], duration: float, **kw: object) -> list[float]:
    timings = al.align_text(al.parse_lyrics(text), decoded, duration, **kw)  # type: ignore[arg-type]
    return [round(t.start, 3) for t in timings]


@pytest.mark.parametrize(
    ("text", "decoded", "duration", "starts"),
    [
        # every word anchored: the decoder's own times
        ("a b", words((1.0, 1.5, " a"), (2.0, 2.5, " b")), 5.0, [1.0, 2.0]),
        # unanchored words share the time between their anchors by length
        (
            "uno xx yyyy dos",
            words((0.0, 1.0, " uno"), (2.2, 3.0, " dos")),
            6.0,
            [0.0, 1.0, 1.4, 2.2],
        ),
        # more time than they need: they follow their line's anchor at a sung pace
        (
            "uno xx yyyy dos",
            words((0.0, 1.0, " uno"), (4.0, 5.0, " dos")),
            6.0,
            [0.0, 1.0, 1.4, 4.0],
        ),
        # ... or the stretch where the decoder heard something there
        (
            "uno zz dos",
            words((0.0, 1.0, " uno"), (2.0, 2.5, " qq"), (4.0, 5.0, " dos")),
            6.0,
            [0.0, 2.0, 4.0],
        ),
        # a long silence: the left line's words follow their anchor, the right line's
        # lead up to theirs
        (
            "uno tail\nhead dos",
            words((0.0, 1.0, " uno"), (30.0, 31.0, " dos")),
            40.0,
            [0.0, 1.0, 29.6, 30.0],
        ),
        # nothing heard at all: every word still gets a time, from the start
        ("a b c", [], 10.0, [0.0, 0.4, 0.8]),
        # after the last anchor, nothing heard: the words follow it
        ("a b", words((2.0, 2.5, " a")), 10.0, [2.0, 2.5]),
    ],
)
def test_interpolation(
    text: str, decoded: list[Word], duration: float, starts: list[float]
) -> None:
    assert _starts(text, decoded, duration) == starts


def test_unanchored_words_go_where_the_stem_has_voice() -> None:
    decoded = words((0.0, 1.0, " uno"), (20.0, 21.0, " dos"))
    voiced = [(0.0, 1.0), (10.0, 12.0), (20.0, 21.0)]
    starts = _starts("uno aa bb dos", decoded, 30.0, voiced=voiced)
    assert starts == [0.0, 10.0, 11.0, 20.0]


def test_onsets_snap_out_of_silence() -> None:
    # Whisper stretched "el" back over the pause before it.
    decoded = words((46.4, 53.6, " el"), (53.7, 54.9, " sombrero"))
    starts = _starts("el sombrero", decoded, 60.0, voiced=[(53.2, 56.0)])
    assert starts == [53.2, 53.7]


@pytest.mark.parametrize("duration", [0.5, 3.0, 200.0])
def test_every_word_is_timed_in_order_within_the_audio(duration: float) -> None:
    text = "\n".join(f"line {n} with some words" for n in range(30))
    decoded = words((0.1, 0.3, " line"), (100.0, 100.5, " words"))
    timings = al.align_text(al.parse_lyrics(text), decoded, duration)
    assert len(timings) == 30 * 5
    assert all(0 <= t.start <= t.end <= duration for t in timings)
    assert all(a.start <= b.start for a, b in itertools.pairwise(timings))


def test_voiced_spans_find_the_loud_stretches() -> None:
    rate = 16_000
    t = np.arange(rate * 6) / rate
    signal = np.zeros_like(t, dtype=np.float32)
    loud = (t >= 1.0) & (t < 2.0) | (t >= 2.1) & (t < 3.0) | (t >= 4.0) & (t < 4.1)
    signal[loud] = 0.3 * np.sin(2 * np.pi * 220 * t[loud])
    spans = al.voiced_spans(signal.astype(np.float32), rate)
    # 2.0-2.1 is bridged; 4.0-4.1 is too short to count
    assert [(round(a, 2), round(b, 2)) for a, b in spans] == [(1.0, 3.0)]


def test_heard_spans_keep_only_voice_near_decoded_words() -> None:
    voiced = [(0.0, 5.0), (10.0, 20.0), (40.0, 50.0)]
    decoded = words((12.0, 12.5, " la"))
    assert al.heard_spans(voiced, decoded) == [(10.0, 14.5)]


@pytest.mark.parametrize(
    ("per_word", "room", "kept"),
    [
        ([[1], [2, 3], [4]], 10, 3),
        ([[1], [2, 3], [4]], 4, 3),
        ([[1], [2, 3], [4]], 3, 2),
        ([[1], [2, 3], [4]], 2, 1),
        ([[1, 2]], 1, 0),
        ([], 5, 0),
    ],
)
def test_fitting_words_keeps_the_leading_words_that_fit(
    per_word: list[list[int]], room: int, kept: int
) -> None:
    assert al.fitting_words(per_word, room) == per_word[:kept]


def test_sequential_goes_on_when_a_window_holds_only_some_words() -> None:
    text = " ".join(f"w{k}" for k in range(40))
    samples = np.zeros(16_000 * 60, dtype=np.float32)
    tight = FakeAligner(room=5, share=1.0, probability=0.9)
    aligned = al.align(text, [], 60.0, samples, tight, "en", method="sequential")
    starts = [w.start for s in aligned.segments for w in s.words]
    assert len(starts) == 40
    assert starts == sorted(starts)
    # windows after the first one placed words too (not only the first window's five)
    placed = [w for s in aligned.segments for w in s.words if w.probability == 0.9]
    assert len(placed) > 5


# ---------------------------------------------------------------- the whole step


def test_align_keeps_the_users_lines_and_words() -> None:
    text = "Soy un fantasma que\n\nse asusta de sí mismo\n"
    decoded = words(
        (1.0, 1.3, " Soy"),
        (1.3, 1.5, " un"),
        (1.5, 2.2, " fantasma"),
        (3.0, 3.2, " se"),
        (3.2, 3.8, " asusta"),
        (4.5, 5.0, " mismo."),
    )
    aligned = al.align(text, decoded, 6.0, method="text")
    assert [s.text for s in aligned.segments] == ["Soy un fantasma que", "se asusta de sí mismo"]
    assert [w.text for s in aligned.segments for w in s.words] == [
        " Soy",
        " un",
        " fantasma",
        " que",
        " se",
        " asusta",
        " de",
        " sí",
        " mismo",
    ]
    assert aligned.words == 9 and aligned.anchored == 6
    assert aligned.log_entry() == {
        "method": "text",
        "lines": 2,
        "words": 9,
        "anchored": round(6 / 9, 4),
    }
    first, second = aligned.segments
    assert (first.start, first.end) == (1.0, first.words[-1].end)
    assert first.words[-1].start >= 2.2 and second.start >= first.end


def test_align_refuses_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown alignment method"):
        al.align("la", [], 1.0, method="guess")


class FakeAligner:
    """Places each window's words evenly over its first ``share`` (at most ``room`` of
    them, the leading ones, as a decoder's limit would), or ``step`` seconds each from
    the window's start; records the windows."""

    def __init__(
        self,
        room: int | None = None,
        share: float = 0.5,
        probability: float = 0.5,
        step: float | None = None,
    ) -> None:
        self.room = room
        self.share = share
        self.probability = probability
        self.step = step
        self.windows: list[tuple[float, float, list[str]]] = []

    def align_windows(
        self,
        samples: npt.NDArray[np.float32],
        windows: Sequence[tuple[float, float, Sequence[str]]],
        language: str,
    ) -> list[list[tuple[float, float, float]]]:
        out = []
        for start, end, ws in windows:
            self.windows.append((start, end, list(ws)))
            fit = ws if self.room is None else ws[: self.room]
            step = self.step or (end - start) * self.share / max(len(ws), 1)
            out.append(
                [
                    (start + i * step, start + (i + 1) * step, self.probability)
                    for i in range(len(fit))
                ]
            )
        return out


@pytest.mark.parametrize("method", ["forced", "sequential", "hybrid"])
def test_forced_methods_time_every_word_in_order(method: str) -> None:
    text = "\n".join(" ".join(f"w{n}x{k}" for k in range(6)) for n in range(20))
    samples = np.zeros(16_000 * 120, dtype=np.float32)
    fake = FakeAligner()
    aligned = al.align(text, [], 120.0, samples=samples, aligner=fake, method=method)
    timed = [w for s in aligned.segments for w in s.words]
    assert len(timed) == 120 and aligned.method == method
    assert all(0 <= w.start <= w.end <= 120.0 for w in timed)
    assert all(a.start <= b.start for a, b in itertools.pairwise(timed))
    assert fake.windows and all(end - start <= al.WINDOW_SECONDS for start, end, _ in fake.windows)


def test_sequential_moves_on_through_the_song() -> None:
    text = " ".join(f"w{k}" for k in range(40))
    samples = np.zeros(16_000 * 100, dtype=np.float32)
    fake = FakeAligner()
    rough = [al.Timing(k * 2.5, k * 2.5 + 0.5, False) for k in range(40)]
    timings = al.sequential(al.parse_lyrics(text), rough, samples, fake, "es", 100.0)
    starts = [start for start, _end, _ws in fake.windows]
    assert starts == sorted(starts) and len(starts) >= 2
    # every word given to some window, none left behind
    assert {w for _s, _e, ws in fake.windows for w in ws} == {f" w{k}" for k in range(40)}
    assert len(timings) == 40


@pytest.mark.parametrize(
    ("voice", "first_window_from"),
    [
        # voice everywhere (a mix): the first window starts at the first word's estimate
        ([(0.0, 60.0)], 20.0 - al.SEQ_LEAD_SECONDS),
        # on a stem, at the first voice after the estimate when that is later
        ([(0.0, 1.0), (25.0, 60.0)], 25.0 - al.SEQ_LEAD_SECONDS),
        # no voice known: the estimate
        ([], 20.0 - al.SEQ_LEAD_SECONDS),
    ],
)
def test_sequential_starts_where_the_first_word_is_estimated(
    voice: list[tuple[float, float]], first_window_from: float
) -> None:
    lyrics = al.parse_lyrics("a b c")
    rough = [al.Timing(20.0 + k, 20.5 + k, False) for k in range(3)]
    fake = FakeAligner()
    samples = np.zeros(16_000 * 60, dtype=np.float32)
    al.sequential(lyrics, rough, samples, fake, "es", 60.0, voice)
    assert fake.windows[0][0] == pytest.approx(first_window_from)


@pytest.mark.parametrize(
    ("voiced", "starts"),
    [
        # voice all through the gap (a mix): the line's missed first word leads up to
        # its line-mates, not to the intro
        ([(0.0, 40.0)], [21.2, 22.0, 22.5]),
        # nor to a voice far from them (Le royaume's spoken intro): a line is one phrase
        ([(3.0, 4.0), (22.0, 40.0)], [21.4, 22.0, 22.5]),
    ],
)
def test_a_lines_missed_first_word_stays_by_its_line(
    voiced: list[tuple[float, float]], starts: list[float]
) -> None:
    decoded = words((22.0, 22.4, " jours"), (22.5, 23.0, " de"))
    assert _starts("par jours de", decoded, 40.0, voiced=voiced) == starts


def test_no_aligner_falls_back_to_text() -> None:
    aligned = al.align("la la", words((1.0, 1.5, " la")), 3.0, samples=None, aligner=None)
    assert aligned.method == "text" and aligned.words == 2


def test_forced_aligner_of_finds_the_model_through_wrappers() -> None:
    class Model:
        class model:
            @staticmethod
            def align() -> None:
                return None

    class Engine:
        _model = Model()

    class Wrapper:
        inner = Engine()

    assert isinstance(al.forced_aligner_of(Wrapper()), al.WhisperForcedAligner)
    assert al.forced_aligner_of(object()) is None


# ---------------------------------------------------------------- the stem's voice detector


@pytest.mark.parametrize(
    ("lyrics", "vintage", "aligning", "used"),
    [
        (None, "silero", "energy", "silero"),  # transcription: the vintage detector
        (None, "energy", "silero", "energy"),
        ("", "silero", "energy", "silero"),  # no words given: transcription still
        ("la la", "silero", "energy", "energy"),  # lyrics: the alignment detector
        ("la la", "energy", "silero", "silero"),
        ("la la", "silero", "silero", "silero"),
    ],
)
def test_stem_detector_follows_the_lyrics(
    lyrics: str | None, vintage: str, aligning: str, used: str
) -> None:
    plan = runner.JobPlan(
        vintage=True,
        retry_when_poor=True,
        standard_options=TranscribeOptions(),
        vintage_options=TranscribeOptions(),
        pinyin=False,
        chinese_script=chinese.as_script("original"),
        vintage_detector=vintage,
        lyrics=lyrics,
        alignment_detector=aligning,
    )
    assert runner.stem_detector(plan) == used


def test_job_plans_carry_the_alignment_detector() -> None:
    assert Settings().alignment_voice_detector == "energy"
    settings = Settings(alignment_voice_detector="silero", vintage_voice_detector="energy")
    plan = upload_plan(settings)
    assert (plan.vintage_detector, plan.alignment_detector) == ("energy", "silero")


@pytest.mark.parametrize(
    ("text", "decoded", "heard"),
    [
        ("one two three\nfour five", ["one", "two", "three", "four", "five"], 5),
        ("one two three\nfour five", ["One,", "tree", "five!"], 3),  # near forms count
        ("one two three", ["four", "five"], 0),
        ("one two three", [], 0),
        ("la la la\nla la", ["la", "la"], 2),  # a decode anchors each heard word once
        ("Ça va\nsí señor", ["ca", "va", "si", "senor"], 4),  # accents and case folded
    ],
)
def test_lyric_words_heard(text: str, decoded: list[str], heard: int) -> None:
    spoken = words(*((float(i), i + 0.5, f" {w}") for i, w in enumerate(decoded)))
    assert al.lyric_words_heard(text, spoken) == heard
    assert al.lyric_words_heard(text, spoken) == al.align(text, spoken, 30.0).anchored


@pytest.mark.parametrize(
    ("decoded", "line_from"),
    [
        # a whole line between anchored lines goes where the decoder heard words it
        # could not match, not over every voiced stretch of the gap (Le royaume: 26 s early)
        (
            words(
                (0.0, 1.0, " uno"),
                (1.0, 2.0, " dos"),
                (30.0, 30.5, " qq"),
                (31.0, 31.5, " rr"),
                (40.0, 41.0, " seis"),
            ),
            # from where the voice they were heard in starts, not at the late word
            29.0,
        ),
        # heard words too few seconds for the line: the voice decides
        (
            words(
                (0.0, 1.0, " uno"), (1.0, 2.0, " dos"), (30.0, 30.1, " qq"), (40.0, 41.0, " seis")
            ),
            10.0,
        ),
    ],
)
def test_whole_lines_go_where_unmatched_words_were_heard(
    decoded: list[Word], line_from: float
) -> None:
    voiced = [(0.0, 2.0), (10.0, 14.0), (29.0, 32.0), (39.0, 41.0)]
    got = _starts("uno dos\ntres cuatro\ncinco seis", decoded, 50.0, voiced=voiced)
    assert got[:2] == [0.0, 1.0] and got[5] == 40.0
    assert got[2] == pytest.approx(line_from)
    assert got[2] < got[3] < got[4] < 40.0
    assert got[4] >= 40.0 - al.MAX_WORD_SECONDS  # "cinco" leads up to its line-mate


@pytest.mark.parametrize(
    ("timing", "voiced", "start"),
    [
        # a word spanning a long silence starts after it (a forced first "ooh" of 19 s)
        ((78.4, 97.6), [(70.0, 82.0), (97.3, 99.8)], 97.3),
        # the last long silence inside the word counts
        ((0.0, 20.0), [(0.0, 1.0), (5.0, 6.0), (15.0, 21.0)], 15.0),
        # a short pause inside a word is a breath, not a silence
        ((10.0, 13.0), [(9.0, 11.0), (11.0 + al.WORD_SILENCE_SECONDS - 0.1, 14.0)], 10.0),
        # in a silence: the voice after it, then on through the word's long silences
        ((3.0, 20.0), [(5.0, 6.0), (15.0, 21.0)], 15.0),
        ((3.0, 8.0), [(5.0, 6.0), (15.0, 21.0)], 5.0),
        # no voice known: as it was
        ((3.0, 20.0), [], 3.0),
    ],
)
def test_no_word_is_sung_across_a_long_silence(
    timing: tuple[float, float], voiced: list[tuple[float, float]], start: float
) -> None:
    (snapped,) = al.snap_onsets([al.Timing(*timing, False)], voiced)
    assert snapped.start == pytest.approx(start)
    assert snapped.end == timing[1]


@pytest.mark.parametrize(
    ("spans", "phrases"),
    [
        ([], []),
        ([(0.0, 1.0)], [[(0.0, 1.0)]]),
        # a breath inside a phrase
        ([(0.0, 1.0), (1.0 + al.WORD_SILENCE_SECONDS - 0.1, 4.0)], 1),
        # a silence a word is not sung across
        ([(0.0, 1.0), (1.0 + al.WORD_SILENCE_SECONDS, 4.0)], 2),
        ([(0.0, 1.0), (1.5, 2.0), (6.0, 7.0), (12.0, 13.0)], 3),
    ],
)
def test_sung_phrases(spans: list[tuple[float, float]], phrases: list[object] | int) -> None:
    got = al._sung_phrases(spans)
    if isinstance(phrases, int):
        assert len(got) == phrases and [s for p in got for s in p] == spans
    else:
        assert got == phrases


@pytest.mark.parametrize(
    ("count", "seconds", "shares"),
    [
        (4, [1.5, 4.4, 2.3, 6.1], [1, 1, 1, 1]),  # Fantasma's "ooh" line: one per phrase
        (6, [1.0, 1.0], [3, 3]),
        (10, [1.0, 3.0], [3, 7]),  # one each, then the rest by voice
        (2, [1.0, 5.0, 2.0], [0, 1, 1]),  # too few: the longest phrases
        (1, [1.0, 1.0], [1, 0]),  # a tie: the earlier
        (0, [1.0, 2.0], [0, 0]),
        (3, [0.0, 0.0], [2, 1]),
    ],
)
def test_words_per_phrase(count: int, seconds: list[float], shares: list[int]) -> None:
    got = al._words_per_phrase(count, seconds)
    assert got == shares and sum(got) == count


def test_a_held_word_per_phrase_is_not_moved_a_phrase_late() -> None:
    """Fantasma's "ooh" line between two anchored lines: four held notes, one per phrase of
    the stem's voice. Spread by voiced time the first straddled the 4.4 s silence, was
    moved past it, and each "ooh" went a phrase (8 s) late."""
    decoded = words(
        (75.0, 77.0, " la"),
        (77.2, 78.3, " belleza"),
        (98.9, 100.3, " qq"),  # the decoder heard singing there, none of it the lyrics
        (108.7, 110.1, " rr"),
        (122.9, 124.3, " ss"),
        (130.9, 131.3, " la"),
        (131.3, 132.9, " tristeza"),
    )
    voiced = [(70.0, 78.6), (97.35, 99.85), (101.15, 101.7), (106.1, 111.1)]
    voiced += [(114.3, 116.6), (122.5, 128.6), (130.7, 139.0)]
    got = _starts("la belleza\nooh ooh ooh ooh\nla tristeza", decoded, 160.0, voiced=voiced)
    assert got[2:6] == [97.35, 106.1, 114.3, 122.5]


def cramming_aligner() -> FakeAligner:
    """Crams every window's words into its first seconds, 0.3 s each: what Whisper's
    forced alignment does with words that are sung later than the window's start."""
    return FakeAligner(step=0.3)


@pytest.mark.parametrize(
    ("back", "later_line_from"),
    [
        # held near the estimates: the second line's window starts near its estimate
        (al.SEQ_BACK_SECONDS, 40.0 - al.SEQ_BACK_SECONDS),
        # not held (a mix): it is crammed in after the first line
        (None, 0.0),
    ],
)
def test_sequential_is_held_near_informed_estimates(
    back: float | None, later_line_from: float
) -> None:
    lyrics = al.parse_lyrics("a b c\nd e f")
    rough = [al.Timing(t, t + 0.5, False) for t in (10.0, 10.5, 11.0, 40.0, 40.5, 41.0)]
    fake = cramming_aligner()
    samples = np.zeros(16_000 * 60, dtype=np.float32)
    timings = al.sequential(lyrics, rough, samples, fake, "es", 60.0, back=back)
    assert fake.windows[0][2] == [" a", " b", " c", " d", " e", " f"]
    if back is None:
        assert timings[3].start < 12.0
    else:
        assert timings[3].start >= later_line_from
        assert timings[3].start == pytest.approx(later_line_from)
    assert all(a.start <= b.start for a, b in itertools.pairwise(timings))


def test_a_mix_does_not_hold_the_forced_alignment() -> None:
    # Voice everywhere: the estimates are no evidence, so align passes no ``back``.
    rate = 16_000
    t = np.arange(rate * 60) / rate
    mix = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    stem = mix.copy()
    stem[rate * 11 : rate * 38] = 0.0  # a stem: silence between the lines
    decoded = words((10.0, 10.5, " a"), (10.5, 11.0, " b"), (11.0, 11.5, " c"))
    for samples, held in ((mix, False), (stem, True)):
        fake = cramming_aligner()
        al.align("a b c\nd e f", decoded, 60.0, samples=samples, aligner=fake, method="sequential")
        windows_after_the_first = [w for w in fake.windows[1:]]
        assert bool(windows_after_the_first) == held
