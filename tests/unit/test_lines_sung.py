"""The SUNG line policy (and that SPEECH stays today's splitter)."""

from __future__ import annotations

import pytest

from textfromtrack.pipeline.lines import (
    SPEECH,
    SUNG,
    LineLimits,
    build_lines,
    segments_from_words,
    starts_capitalised,
    visible_words,
)
from textfromtrack.pipeline.types import Word


def words(*items: tuple[float, float, str]) -> list[Word]:
    return [Word(start, end, text) for start, end, text in items]


def run(text: str, start: float, step: float = 0.4) -> list[Word]:
    """Words of ``text`` sung back to back from ``start``, ``step`` seconds each."""
    return [
        Word(start + i * step, start + (i + 1) * step, f" {t}") for i, t in enumerate(text.split())
    ]


def sung(ws: list[Word]) -> list[str]:
    return [s.text for s in segments_from_words(ws, SUNG)]


@pytest.mark.parametrize(
    ("ws", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(words((0, 0.5, " "), (0.5, 1, "")), [], id="only-blank-words"),
        pytest.param(run("la luna llena", 0), ["la luna llena"], id="one-phrase"),
        # A 0.8 s silence between two sung phrases is a line break...
        pytest.param(
            run("soy un fantasma que", 0) + run("se asusta de si mismo", 2.4),
            ["soy un fantasma que", "se asusta de si mismo"],
            id="pause",
        ),
        # ...a 0.1 s one is not, unless the line needs cutting.
        pytest.param(
            run("soy un fantasma", 0) + run("que se asusta", 1.3),
            ["soy un fantasma que se asusta"],
            id="breath-is-no-break",
        ),
        # Whisper's period every few words does not cut a short sung line in two.
        pytest.param(
            words((0, 0.3, " Dije"), (0.3, 0.6, " el"), (0.6, 0.9, " perreo."))
            + words((0.9, 1.2, " todo"), (1.2, 1.5, " el"), (1.5, 1.8, " mundo.")),
            ["Dije el perreo. todo el mundo."],
            id="period-alone-no-break",
        ),
        # A comma and a capital with a short pause do.
        pytest.param(
            run("un hueco dentro de otro hueco,", 0) + run("Que solo el aire atraviesa", 2.6),
            ["un hueco dentro de otro hueco,", "Que solo el aire atraviesa"],
            id="comma-capital-short-pause",
        ),
        # A one-word tail after a pause joins the next line, not a line of its own.
        pytest.param(
            run("la tristeza es muy", 0) + run("extraña se alimenta de la belleza", 2.2),
            ["la tristeza es muy", "extraña se alimenta de la belleza"],
            id="no-orphan-word",
        ),
        # A word alone in time (1.5 s of silence around it) stands alone.
        pytest.param(
            run("la tristeza es muy", 0) + run("ah", 3.6) + run("se alimenta de la", 5.6),
            ["la tristeza es muy", "ah", "se alimenta de la"],
            id="word-alone-in-time",
        ),
        # Chinese: no spaces; the four characters are four words, one short line.
        pytest.param(
            words((0, 0.3, "你"), (0.3, 0.6, "好，"), (0.6, 0.9, "再"), (0.9, 1.2, "见")),
            ["你好，再见"],
            id="cjk",
        ),
        # French split by Whisper: " n" + "'a" is one word, so "n'a" alone is an orphan.
        pytest.param(
            run("il ne reste", 0) + words((1.6, 1.8, " n"), (1.8, 2.0, "'a")),
            ["il ne reste n'a"],
            id="split-word-is-one-word",
        ),
    ],
)
def test_sung_lines(ws: list[Word], expected: list[str]) -> None:
    assert sung(ws) == expected


@pytest.mark.parametrize(
    ("shout", "probability", "expected"),
    [
        # A sure one-word sentence between short silences is a shout: its own line.
        (" Ok.", 0.9, ["se jodió esta pendeja.", "Ok.", "Se jodió esta pendeja."]),
        # ... closed by a comma (another machine's decode)
        (" Ok,", 0.9, ["se jodió esta pendeja.", "Ok,", "Se jodió esta pendeja."]),
        # An unsure one (Whisper guessing at an ad-lib) joins a neighbour.
        (" Ok.", 0.05, ["se jodió esta pendeja. Ok.", "Se jodió esta pendeja."]),
        # So does one with no mark of its own: it runs on into the next line.
        (" Ok", 0.9, ["se jodió esta pendeja.", "Ok Se jodió esta pendeja."]),
    ],
)
def test_shouts(shout: str, probability: float, expected: list[str]) -> None:
    ws = [
        *run("se jodió esta pendeja.", 0),
        Word(1.9, 2.3, shout, probability),
        *run("Se jodió esta pendeja.", 2.6),
    ]
    assert sung(ws) == expected


def test_a_shout_needs_no_capital() -> None:
    # Guayeteo's end on this machine: the annotation has "sencillo" as a line of its own.
    ws = [
        Word(139.89, 140.41, " ego", 0.98),
        Word(140.41, 140.53, " No,", 0.06),
        Word(141.23, 142.45, " sencillo,", 0.68),
        *run("yo y quiero el duro.", 142.87, 0.2),
    ]
    assert sung(ws) == ["ego No,", "sencillo,", "yo y quiero el duro."]


@pytest.mark.parametrize(
    ("step", "count"),
    [(0.3, 60), (0.5, 40), (1.1, 12)],
)
def test_caps_keep_every_word(step: float, count: int) -> None:
    ws = [Word(i * step, (i + 1) * step, " la") for i in range(count)]
    segs = segments_from_words(ws, SUNG)
    assert all(len(s.text) <= SUNG.max_chars for s in segs)
    assert all(s.end - s.start <= SUNG.max_seconds for s in segs)
    assert [w.text for s in segs for w in s.words] == [w.text for w in ws]
    assert all(len(s.words) > 1 for s in segs)


def test_an_overlong_line_breaks_at_its_clause_mark() -> None:
    text = "Once upon a midnight dreary, while I pondered weak and weary over many a volume"
    lines = sung(run(text, 0, 0.3))
    assert lines[0] == "Once upon a midnight dreary,"
    assert " ".join(lines) == text


def test_a_held_first_word_starts_where_it_can_be_sung() -> None:
    # Whisper stretched " Un" back over 1 s of silence; the singer started late in it.
    ws = run("de si mismo", 0) + words(
        (2.2, 3.24, " Un"), (3.24, 3.8, " hueco"), (3.8, 4.4, " dentro")
    )
    segs = segments_from_words(ws, SUNG)
    assert [s.text for s in segs] == ["de si mismo", "Un hueco dentro"]
    # 0.2 s + 0.15 s for each of its two letters.
    assert segs[1].start == pytest.approx(3.24 - 0.5)
    assert segs[1].words[0].start == segs[1].start
    assert segs[1].words[1:] == tuple(ws[4:])
    # A word no longer than that keeps its start.
    assert segs[0].start == 0


def test_a_word_stretched_over_a_silence_is_timed_from_its_held_start() -> None:
    # Guayeteo's stem: " el" from 54.4 to 61.4 s (Whisper stretched it back over the
    # silence), then "preci y seguro" to 65.2 s. Shown from its held start (60.9 s) the
    # line lasts 4.3 s, within the cap; timed from 54.4 s it was 10.8 s, so " el" was
    # left a line of its own.
    ws = words((50.0, 50.6, " con"), (54.43, 61.43, " el"), (61.43, 61.97, " preci"))
    ws += words((61.97, 64.75, " y"), (64.75, 65.21, " seguro"))
    segs = segments_from_words(ws, SUNG)
    assert [s.text for s in segs] == ["con", "el preci y seguro"]
    assert segs[1].start == pytest.approx(61.43 - 0.5)


def test_no_line_starts_inside_a_word() -> None:
    # Mes Larmes, -1 dB: Whisper split "s'appelle" into " s" and, 3.2 s later, "'appelle".
    ws = [
        *run("et qui est fausser un melaire,", 100.0),
        Word(130.6, 132.58, " s", 0.0),
        Word(135.78, 135.98, "'appelle", 0.56),
        *run("son prénom,", 136.0, 0.3),
    ]
    got = segments_from_words(ws, SUNG)
    assert [s.text for s in got] == ["et qui est fausser un melaire,", "s'appelle son prénom,"]


def test_a_word_split_past_the_caps_still_is_one_line() -> None:
    ws = [Word(0.0, 1.0, " " + "x" * 30)] + [Word(1.0 + i, 2.0 + i, "-yy") for i in range(8)]
    assert sung(ws) == ["x" * 30 + "-yy" * 8]


def test_a_single_overlong_word_is_a_line() -> None:
    ws = words((0, 1, " " + "x" * 60), (1, 1.2, " y"), (1.2, 1.4, " z"))
    assert sung(ws) == ["x" * 60, "y z"]


@pytest.mark.parametrize(
    ("ws", "count"),
    [
        (words((0, 1, " hola"), (1, 2, " mundo")), 2),
        (words((0, 1, " n"), (1, 2, "'a")), 1),
        (words((0, 1, "你"), (1, 2, "好")), 2),
        (words((0, 1, "你好")), 1),
        ([], 0),
    ],
)
def test_visible_words(ws: list[Word], count: int) -> None:
    assert visible_words(ws) == count


@pytest.mark.parametrize(
    ("text", "expected"),
    [(" La", True), (" «Oye", True), (" la", False), (" I", False), (" I'm", False), (" ", False)],
)
def test_starts_capitalised(text: str, expected: bool) -> None:
    assert starts_capitalised(Word(0, 1, text)) is expected


def test_speech_is_todays_splitter_and_the_default() -> None:
    ws = run("Stop. Go now, please, and come back later when it is quiet", 0, 0.3)
    ws += run("again", 6.0)
    today = [[w.text for w in line] for line in build_lines(ws, LineLimits())]
    assert LineLimits() == SPEECH
    for policy in (None, SPEECH):
        assert [[w.text for w in s.words] for s in segments_from_words(ws, policy)] == today
