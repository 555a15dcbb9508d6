"""The quality check: loops, hallucinated filler, empty output, confidence, voice energy."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from textfromtrack.pipeline import quality
from textfromtrack.pipeline.quality import (
    EMPTY_TRANSCRIPT,
    HALLUCINATION_PHRASE,
    HIGH_COMPRESSION_RATIO,
    LOW_CONFIDENCE,
    NEAR_EMPTY_TRANSCRIPT,
    REPETITION_LOOP,
    QualityReport,
    QualityThresholds,
    assess,
    better,
    compare,
)
from textfromtrack.pipeline.types import EngineSegment, Transcript, Word

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
SR = 16_000

# --- transcripts built in the test ----------------------------------------------------------


def _words(text: str, start: float, end: float, probability: float) -> tuple[Word, ...]:
    # Whisper's CJK words are characters or short runs; one per character is close enough.
    parts = text.split() if " " in text.strip() else re.findall(r"\S", text)
    if not parts:
        return ()
    step = (end - start) / len(parts)
    return tuple(
        Word(start + i * step, start + (i + 1) * step, " " + p, probability)
        for i, p in enumerate(parts)
    )


def seg(
    text: str,
    start: float,
    end: float,
    *,
    logprob: float = -0.3,
    probability: float = 0.85,
    compression: float = 1.3,
    no_speech: float = 0.05,
) -> EngineSegment:
    return EngineSegment(
        start=start,
        end=end,
        text=" " + text,
        words=_words(text, start, end, probability),
        avg_logprob=logprob,
        no_speech_prob=no_speech,
        compression_ratio=compression,
    )


def transcript(
    lines: list[str],
    *,
    language: str = "en",
    line_seconds: float = 4.0,
    offset: float = 10.0,
    duration: float | None = None,
    logprob: float = -0.3,
    probability: float = 0.85,
    compression: float = 1.3,
) -> Transcript:
    segments = tuple(
        seg(
            line,
            offset + i * line_seconds,
            offset + (i + 1) * line_seconds - 0.2,
            logprob=logprob,
            probability=probability,
            compression=compression,
        )
        for i, line in enumerate(lines)
    )
    end = offset + len(lines) * line_seconds + 10.0
    return Transcript(
        language=language,
        language_probability=0.95,
        duration_seconds=end if duration is None else duration,
        segments=segments,
        model="whisper-base",
        engine="faster-whisper",
    )


# Original lyrics written for these tests: three verses and a chorus sung three times
# (the last time with its second half again), as songs do.
VERSE_1 = [
    "Morning light is breaking on the harbour wall",
    "Gulls are calling out the names of every ship",
    "I have packed the little that I own",
    "And left the key beneath the broken step",
]
VERSE_2 = [
    "Seven summers working on my father's boat",
    "Mending nets and counting silver in the rain",
    "Now the tide is pulling at my coat",
    "And I will not be coming back again",
]
VERSE_3 = [
    "If you ask about me tell them I was here",
    "Tell them that I sang along the shore",
    "Every road is longer than it looks",
    "But I have never wanted something more",
]
CHORUS = [
    "So sail away, sail away",
    "Over the water into the blue",
    "Sail away, sail away",
    "Every wave is bringing me home to you",
]
SONG = VERSE_1 + CHORUS + VERSE_2 + CHORUS + VERSE_3 + CHORUS + CHORUS[-2:]
SONG_VOICE = 150.0

SPEECH = [
    "It was the best of all possible mornings to begin a new project.",
    "The team had gathered early in the small office overlooking the river.",
    "Nobody quite knew what the client wanted, but everyone agreed on the first step.",
    "We would listen carefully and write down every question.",
    "Over the next hour we talked about budgets, timelines and the small details.",
    "Our manager reminded us that a good plan is not a promise but a map.",
    "By lunchtime we had a list of twenty questions and three rough sketches.",
    "In the afternoon we called the client and found half of our assumptions were wrong.",
]

ZH_LYRICS = [
    "窗外的麻雀在电线杆上多嘴",
    "你说这一句很有夏天的感觉",
    "手中的铅笔在纸上来来回回",
    "我用几行字形容你是我的谁",
]

# whisper-base (faster-whisper, no VAD) on Los Rombos - "Fantasma" (CC BY-SA, from
# JamendoLyrics; see ../shared/testdata/README.md), as recorded from a real run:
# (start, end, text, avg_logprob, no_speech_prob, compression_ratio, word probability).
# The band sings the chorus line three times; the model wrote it five times, four in a
# row, two of those over an instrumental. Whole-text gzip ratio is above 2.4 - but this
# is a usable transcript, not a loop, and must pass.
FANTASMA_WHISPER = [
    (16.8, 25.0, "Soy un fantasma que se asusta de sinismo", -0.64, 0.30, 0.87, 0.66),
    (
        26.0,
        34.2,
        "Un hueco dentro de otro hueco que sólo era ir atraviesa",
        -0.36,
        0.07,
        1.19,
        0.65,
    ),
    (35.0, 43.0, "La tristeza es muy extraño y es alimenta de la belleza", -0.36, 0.07, 1.19, 0.81),
    (51.6, 60.1, "Soy el sombrero y un mago funde no hay un colio", -0.38, 0.04, 1.19, 0.64),
    (61.0, 68.4, "Un beso que no deja huella y palpita en el recuerdo", -0.38, 0.04, 1.19, 0.82),
    (68.4, 78.3, "La tristeza es muy extraño y es alimenta de la belleza", -0.09, 0.01, 0.92, 0.68),
    (
        125.6,
        128.4,
        "La tristeza es muy extraño y es alimenta de la belleza",
        -0.34,
        0.86,
        0.92,
        0.15,
    ),
    (
        130.3,
        139.5,
        "La tristeza es muy extraño y es alimenta de la belleza",
        -0.10,
        0.01,
        0.92,
        0.53,
    ),
    (
        164.6,
        166.0,
        "La tristeza es muy extraño y es alimenta de la belleza",
        -0.23,
        0.75,
        0.92,
        0.14,
    ),
]


def fantasma_transcript() -> Transcript:
    segments = tuple(
        seg(text, start, end, logprob=lp, no_speech=ns, compression=cr, probability=wp)
        for start, end, text, lp, ns, cr, wp in FANTASMA_WHISPER
    )
    return Transcript("es", 0.56, 166.0, segments, "whisper-base", "faster-whisper")


# --- repetition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "loop"),
    [
        pytest.param(["I'm walking down the street tonight"] * 10, True, id="one-line-x10"),
        pytest.param(["I'm walking down the street tonight"] * 6, True, id="one-line-x6"),
        pytest.param(["I'm walking down the street tonight"] * 4, False, id="one-line-x4"),
        pytest.param([" ".join(["la"] * 150)], True, id="la-la-la-x50-one-segment"),
        pytest.param(["la la la"] * 50, True, id="la-la-la-x50-segments"),
        pytest.param(["我爱你爱着你就像老鼠爱大米" * 8], True, id="zh-phrase-x8-one-segment"),
        pytest.param(["我爱你爱着你就像老鼠爱大米"] * 8, True, id="zh-phrase-x8-segments"),
        pytest.param(ZH_LYRICS, False, id="zh-lyrics"),
        pytest.param(["Thank you. " * 40], True, id="thank-you-x40"),  # a loop and filler at once
        pytest.param(SONG, False, id="song-chorus-x3"),
        pytest.param(VERSE_1 + CHORUS * 4, False, id="chorus-x4-in-a-row"),
        pytest.param(CHORUS * 4, False, id="nothing-but-chorus-x4"),
        pytest.param(VERSE_1 + ["Sail away"] * 4 + VERSE_2, False, id="line-x4-in-song"),
        pytest.param(VERSE_1 + ["Sail away"] * 8 + VERSE_2, True, id="line-x8-in-song"),
        pytest.param(SPEECH, False, id="speech"),
        pytest.param([*VERSE_1, "ah ah ah ah ah ah", *VERSE_2], False, id="ah-ah-ah-line"),
    ],
)
def test_repetition_loops(lines: list[str], loop: bool) -> None:
    report = assess(transcript(lines), voice_seconds=SONG_VOICE)
    assert (quality.REPETITION_LOOP in report.reasons) is loop, report.metrics


@pytest.mark.parametrize(
    ("text", "lines", "ratio_above_2_4", "ngram_range", "run"),
    [
        ("", None, False, (0.0, 0.0), 0),
        ("hello world", None, False, (0.0, 0.0), 1),
        ("\n".join(["same line here"] * 10), None, True, (0.8, 1.0), 10),
        (" ".join(["la"] * 150), None, True, (0.95, 1.0), 1),
        ("我爱你爱着你就像老鼠爱大米" * 8, None, True, (0.8, 1.0), 1),
        ("".join(ZH_LYRICS), None, False, (0.0, 0.05), 1),
        # whole songs gzip past 2.4 too: that is why the ratio only counts with n-grams
        ("\n".join(SONG), SONG, True, (0.2, 0.4), 1),
        ("\n".join(SPEECH), SPEECH, False, (0.0, 0.05), 1),
        # case and punctuation do not break a run; blank and "♪" lines neither break nor count
        ("Oh baby\noh, baby!\n\n♪\nOH BABY", None, False, (0.0, 1.0), 3),
    ],
)
def test_repetition_metrics(
    text: str,
    lines: list[str] | None,
    ratio_above_2_4: bool,
    ngram_range: tuple[float, float],
    run: int,
) -> None:
    metrics = quality.repetition_metrics(text, lines)
    assert (metrics.compression_ratio > 2.4) is ratio_above_2_4
    low, high = ngram_range
    assert low <= metrics.repeated_ngram_ratio <= high
    assert metrics.longest_line_run == run


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", ["hello", "world"]),
        ("Don't stop", ["don't", "stop"]),
        ("我爱KTV。", ["我", "爱", "ktv"]),
        ("ご視聴", ["ご", "視", "聴"]),
        ("사랑해 너를", ["사랑해", "너를"]),
        ("♪ ... ♪", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert quality.tokens(text) == expected


def test_whole_song_compresses_past_whisper_threshold_but_is_not_a_loop() -> None:
    report = assess(transcript(SONG), voice_seconds=SONG_VOICE)
    assert report.metrics["compression_ratio"] > 2.4
    assert not report.poor
    assert report.metrics["loop_fraction"] == 0.0


def test_loop_inside_good_lyrics_counts_only_its_own_share() -> None:
    lines = VERSE_1 + CHORUS + ["Sail away"] * 8 + VERSE_2
    report = assess(transcript(lines), voice_seconds=SONG_VOICE)
    assert report.reasons == (REPETITION_LOOP,)
    assert 0.1 < report.metrics["loop_fraction"] < 0.5
    assert report.metrics["longest_line_run"] == 8


def test_segments_whisper_could_not_decode_out_of_a_loop() -> None:
    # The engine measured its own window's compression ratio above 2.4 for most text.
    looped = transcript(SONG, compression=3.1)
    report = assess(looped, voice_seconds=SONG_VOICE)
    assert HIGH_COMPRESSION_RATIO in report.reasons
    assert report.metrics["compressed_segment_fraction"] == 1.0
    # one such window among many is a blemish, not a failed transcript
    first, *rest = looped.segments
    segments = (first, *(replace(s, compression_ratio=1.3) for s in rest))
    report = assess(replace(looped, segments=segments), voice_seconds=SONG_VOICE)
    assert not report.poor


def test_real_whisper_output_with_extra_chorus_lines_passes() -> None:
    report = assess(fantasma_transcript(), voice_seconds=136.7)
    assert not report.poor, report.to_dict()
    assert report.metrics["compression_ratio"] > 2.4
    assert report.metrics["longest_line_run"] == 4


def test_thresholds_are_configurable() -> None:
    lines = VERSE_1 + ["Sail away"] * 4 + VERSE_2
    voice = len(lines) * 4.0  # the lines cover the voiced audio
    assert not assess(transcript(lines), voice).poor
    strict = QualityThresholds(max_line_run=4)
    assert assess(transcript(lines), voice, strict).reasons == (REPETITION_LOOP,)


# --- hallucinated filler --------------------------------------------------------------------

FILLER = [
    "Thanks for watching!",
    "THANKS FOR WATCHING",
    "Thanks   for watching ...",
    "Thank you for watching, and don't forget to like and subscribe!",
    "Subtitles by the Amara.org community",
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社區提供",
    "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
    "請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目",
    "谢谢观看",
    "謝謝觀看!",
    "字幕志愿者 杨茜茜",
    "ご視聴ありがとうございました",
    "チャンネル登録よろしくお願いします",
    "Sous-titrage ST' 501",
    "Sous-titres réalisés par la communauté d'Amara.org",
    "Untertitel im Auftrag des ZDF, 2021",
    "¡Gracias por ver!",
    "Subtítulos realizados por la comunidad de Amara.org",
    "시청해주셔서 감사합니다.",
    "Obrigado por assistir.",
    "Legendas pela comunidade Amara.org",
    "Thank you.",
    "you",
    "[Music]",
    "(upbeat music)",
    "【音乐】",
]

NOT_FILLER = [
    "Thank you for the music",
    "Thank you, I'll say goodbye soon",
    "I was watching you all night long",
    "Gracias a la vida que me ha dado tanto",
    "Merci pour tout ce que tu m'as donné",
    "谢谢你给我的爱",
    "You and me against the world",
    "♪ la la la ♪",
    "(ooh, ooh)",
    "(I can't get no) satisfaction",
    "",
    "♪",
]


@pytest.mark.parametrize("text", FILLER)
def test_known_filler_alone_is_poor(text: str) -> None:
    assert quality.is_hallucination(text)
    report = assess(transcript([text]), voice_seconds=30.0)
    assert report.metrics["hallucination_fraction"] == 1.0
    assert HALLUCINATION_PHRASE in report.reasons
    assert report.poor


@pytest.mark.parametrize("text", NOT_FILLER)
def test_lyrics_that_look_like_filler_are_kept(text: str) -> None:
    assert not quality.is_hallucination(text)


@pytest.mark.parametrize(
    "filler",
    ["Thanks for watching!", "字幕由Amara.org社群提供", "Sous-titrage ST' 501", "[Music]"],
)
def test_filler_after_normal_lyrics_is_a_small_fraction(filler: str) -> None:
    clean = assess(transcript(SONG), voice_seconds=SONG_VOICE)
    report = assess(transcript([*SONG, filler]), voice_seconds=SONG_VOICE)
    assert 0.0 < report.metrics["hallucination_fraction"] < 0.1
    assert not report.poor
    assert report.score < clean.score


def test_mostly_filler_is_poor() -> None:
    lines = [
        CHORUS[1],
        "Thanks for watching!",
        "Please subscribe to my channel",
        "Subtitles by the Amara.org community",
    ]
    report = assess(transcript(lines), voice_seconds=20.0)
    assert report.metrics["hallucination_fraction"] > 0.5
    assert report.reasons == (HALLUCINATION_PHRASE,)


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        ([], 0.0),
        (["♪"], 0.0),
        (["abcd", "Thanks for watching"], 17 / 21),  # squashed: "thanksforwatching"
        (["abcd", "efgh"], 0.0),
        (["you", "you and me"], 3 / 11),
    ],
)
def test_hallucination_fraction(texts: list[str], expected: float) -> None:
    segments = [seg(t, i, i + 1.0) for i, t in enumerate(texts)]
    assert quality.hallucination_fraction(segments) == pytest.approx(expected)


def test_phrase_catalogue_covers_the_languages() -> None:
    catalogue = " ".join(quality.HALLUCINATION_PHRASES)
    for sample in [
        "Thanks for watching",  # en
        "字幕由Amara.org社群提供",  # zh simplified
        "請不吝點贊",  # zh traditional
        "ご視聴ありがとうございました",  # ja
        "Gracias por ver",  # es
        "Sous-titrage ST' 501",  # fr
        "Untertitel im Auftrag des ZDF",  # de
        "시청해주셔서 감사합니다",  # ko
        "Obrigado por assistir",  # pt
    ]:
        assert sample in catalogue


# --- empty output ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "voice", "expected"),
    [
        (0, 0.0, None),  # silence: nothing to transcribe
        (0, 4.9, None),  # too little voice to expect words
        (0, 6.0, EMPTY_TRANSCRIPT),
        (0, 180.0, EMPTY_TRANSCRIPT),
        (1, 60.0, NEAR_EMPTY_TRANSCRIPT),  # 1 a minute
        (4, 60.0, NEAR_EMPTY_TRANSCRIPT),
        (5, 60.0, None),  # exactly the limit
        (1, 10.0, None),  # one word in a short clip
        (120, 60.0, None),
    ],
)
def test_emptiness(words: int, voice: float, expected: str | None) -> None:
    assert quality.emptiness(words, voice) == expected


def test_empty_output_over_voiced_audio_is_poor() -> None:
    report = assess(transcript([], duration=180.0), voice_seconds=150.0)
    assert report.reasons == (EMPTY_TRANSCRIPT,)
    assert report.score == 0.0


def test_empty_output_over_silence_is_fine() -> None:
    report = assess(transcript([], duration=180.0), voice_seconds=0.0)
    assert not report.poor
    assert report.score == 1.0


@pytest.mark.parametrize(("duration", "poor"), [(60.0, True), (3.0, False)])
def test_unknown_voice_falls_back_to_the_duration(duration: float, poor: bool) -> None:
    report = assess(transcript([], duration=duration), voice_seconds=None)
    assert report.poor is poor
    assert report.metrics["voice_seconds"] == duration


def test_note_symbols_only_count_as_empty() -> None:
    report = assess(transcript(["♪", "♪ ♪"]), voice_seconds=60.0)
    assert report.reasons == (EMPTY_TRANSCRIPT,)


def test_near_empty_output() -> None:
    report = assess(transcript(["Hey"], duration=200.0), voice_seconds=120.0)
    assert report.reasons == (NEAR_EMPTY_TRANSCRIPT,)
    assert report.metrics["words_per_minute_of_voice"] == pytest.approx(0.5)


def test_a_partly_dropped_song_scores_below_the_whole_song() -> None:
    partial = assess(transcript(SONG[:6]), voice_seconds=SONG_VOICE)
    whole = assess(transcript(SONG), voice_seconds=SONG_VOICE)
    # Six 4 s lines over 150 voiced seconds: most of the song was skipped, worth a retry.
    assert partial.poor and partial.reasons == (quality.LOW_COVERAGE,)
    assert better(whole, partial)


@pytest.mark.parametrize(
    ("lines", "voice", "low"),
    [
        (8, 137.0, True),  # the shared song through VAD on the mix: 31 s of 137 voiced
        (6, 34.0, False),  # its excerpt: 0.7 of the voiced time is in lines
        (3, 25.0, False),  # under 30 s of voice coverage is not judged
        (30, 120.0, False),  # speech and dense lyrics cover their voice
    ],
)
def test_voice_coverage(lines: int, voice: float, low: bool) -> None:
    report = assess(transcript((SONG * 2)[:lines]), voice)
    assert (quality.LOW_COVERAGE in report.reasons) is low
    # Synthetic lines last 3.8 s, 0.2 s apart: a breath between phrases, bridged.
    assert report.metrics["voice_coverage"] == pytest.approx((lines * 4.0 - 0.2) / voice)


def _worded(*words: tuple[float, float]) -> EngineSegment:
    return EngineSegment(
        start=words[0][0],
        end=words[-1][1],
        text=" " + " ".join("la" for _ in words),
        words=tuple(Word(a, b, " la", 0.9) for a, b in words),
    )


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        # One segment across a stretch the voice detector cut (10-70 s): only its words
        # count, where the segment's span read 62 s.
        ((_worded((8.0, 9.0), (9.2, 10.0), (70.0, 71.0)),), 3.0),
        # Gaps up to 0.5 s between words are part of the phrase.
        ((_worded((0.0, 1.0), (1.5, 2.0), (2.6, 3.0)),), 2.4),
        # Overlapping words (and two segments) are counted once.
        ((_worded((0.0, 2.0), (1.0, 3.0)), _worded((3.2, 4.0))), 4.0),
        # No words: the segments' spans, unbridged.
        ((EngineSegment(0.0, 2.0, " a"), EngineSegment(2.3, 3.0, " b")), 2.7),
        # Empty text is not speech.
        ((EngineSegment(0.0, 5.0, " "),), 0.0),
        ((), 0.0),
    ],
)
def test_spoken_seconds(segments: tuple[EngineSegment, ...], expected: float) -> None:
    t = Transcript("en", 1.0, 80.0, segments, "whisper-base", "faster-whisper")
    assert quality.spoken_seconds(t) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kept", "voice", "expected"),
    [
        (None, 100.0, None),  # no detector ran, or the engine does not say
        (50.0, 0.0, None),  # nothing voiced to divide by
        (32.0, 128.0, 0.25),  # a song's mix: the speech detector dropped the singing
        (150.0, 100.0, 1.5),  # speech: padded words and short pauses are kept
    ],
)
def test_kept_share(kept: float | None, voice: float, expected: float | None) -> None:
    assert quality.kept_share(kept, voice) == (
        None if expected is None else pytest.approx(expected)
    )


def test_usable_words_discount_loops_and_filler() -> None:
    clean = assess(transcript(SONG), SONG_VOICE)
    assert clean.metrics["usable_words"] == pytest.approx(clean.metrics["word_count"], rel=0.05)
    looped = assess(transcript([SONG[0]] * 12), SONG_VOICE)
    assert looped.metrics["usable_words"] < 0.3 * looped.metrics["word_count"]


# --- confidence -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logprob", "probability", "low"),
    [
        (-0.3, 0.85, False),
        (-0.9, 0.6, False),  # Whisper base on a hard song: unsure but usable
        (-1.0, 0.5, False),  # Whisper's logprob_threshold itself is not below it
        (-1.4, 0.6, True),
        (-0.5, 0.15, True),
    ],
)
def test_low_confidence(logprob: float, probability: float, low: bool) -> None:
    lines = SPEECH
    report = assess(transcript(lines, logprob=logprob, probability=probability), 40.0)
    assert (LOW_CONFIDENCE in report.reasons) is low
    assert report.poor is low


def test_confidence_is_duration_weighted() -> None:
    t = Transcript(
        "en",
        0.9,
        30.0,
        (
            seg("a long confident line", 0.0, 10.0, logprob=-0.2, probability=0.9),
            seg("short guess", 10.0, 12.0, logprob=-1.4, probability=0.3),
        ),
        "whisper-base",
        "faster-whisper",
    )
    conf = quality.confidence(t)
    assert conf.avg_logprob == pytest.approx((10 * -0.2 + 2 * -1.4) / 12)
    assert conf.mean_word_probability == pytest.approx((4 * 0.9 + 2 * 0.3) / 6)
    assert conf.no_speech_prob == pytest.approx(0.05)


def test_confidence_of_nothing() -> None:
    conf = quality.confidence(transcript([]))
    assert conf == quality.Confidence(None, None, None)
    assert quality.confidence_score(conf) == 1.0


def test_confidence_orders_otherwise_equal_attempts() -> None:
    sure = assess(transcript(SONG, logprob=-0.2, probability=0.9), SONG_VOICE)
    unsure = assess(transcript(SONG, logprob=-0.8, probability=0.5), SONG_VOICE)
    assert not sure.poor and not unsure.poor
    assert better(sure, unsure)


# --- normal transcripts pass ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "language", "voice"),
    [
        (SONG, "en", SONG_VOICE),
        (SPEECH, "en", 40.0),
        (ZH_LYRICS, "zh", 16.0),
        (VERSE_1 + CHORUS + CHORUS + CHORUS, "en", 60.0),
    ],
)
def test_normal_transcripts_are_not_poor(lines: list[str], language: str, voice: float) -> None:
    report = assess(transcript(lines, language=language), voice_seconds=voice)
    assert report.reasons == ()
    assert not report.poor
    assert report.score > 0.9


# --- scores and the winner ------------------------------------------------------------------


def _report(score: float, poor: bool = False) -> QualityReport:
    return QualityReport(score=score, poor=poor, reasons=(), metrics={})


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(0.9, 0.4, 1), (0.4, 0.9, -1), (0.7, 0.7, 0), (0.7, 0.7 + 1e-12, 0)],
)
def test_compare(a: float, b: float, expected: int) -> None:
    assert compare(_report(a), _report(b)) == expected
    assert compare(_report(b), _report(a)) == -expected


def test_better_keeps_the_first_on_a_tie() -> None:
    first, second = _report(0.8), _report(0.8)
    assert not better(second, first)
    assert not better(first, second)


def test_any_acceptable_attempt_beats_any_poor_one() -> None:
    # A clean-but-unsure transcript against one whose only fault is some filler.
    unsure = assess(transcript(SONG, logprob=-0.99, probability=0.3), SONG_VOICE)
    filler = assess(transcript([*SONG[:4], *FILLER[:4]]), SONG_VOICE)
    assert not unsure.poor and filler.poor
    assert unsure.score >= 0.5 > filler.score
    assert better(unsure, filler)


def test_poor_attempts_are_still_ordered() -> None:
    all_filler = assess(transcript(FILLER[:3]), SONG_VOICE)
    some_filler = assess(transcript([*SONG[:2], *FILLER[:3]]), SONG_VOICE)
    assert all_filler.poor and some_filler.poor
    assert better(some_filler, all_filler)


def test_report_to_dict_is_json() -> None:
    report = assess(transcript([*SONG, "Thanks for watching!"]), voice_seconds=SONG_VOICE)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["poor"] is False
    assert data["reasons"] == []
    assert 0.5 <= data["score"] <= 1.0
    for key in (
        "compression_ratio",
        "repeated_ngram_ratio",
        "hallucination_fraction",
        "avg_logprob",
        "words_per_minute_of_voice",
        "voice_seconds",
    ):
        assert isinstance(data["metrics"][key], float)


def test_reason_codes_are_listed_in_a_stable_order() -> None:
    lines = ["Thanks for watching!"] * 8
    report = assess(transcript(lines, logprob=-1.5), voice_seconds=40.0)
    assert report.reasons == (REPETITION_LOOP, HALLUCINATION_PHRASE, LOW_CONFIDENCE)
    assert list(report.reasons) == [r for r in quality.REASONS if r in report.reasons]


# --- voice energy ---------------------------------------------------------------------------


def _tone(freq: float, amplitude: float, seconds: float) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _burst(freq: float, noise: float = 0.0) -> npt.NDArray[np.float32]:
    """10 s: 3 s quiet, 4 s tone, 3 s quiet; optional background noise (RMS)."""
    audio = np.zeros(10 * SR, dtype=np.float32)
    audio[3 * SR : 7 * SR] = _tone(freq, 0.3, 4.0)
    rng = np.random.default_rng(1)
    return (audio + noise * rng.standard_normal(audio.size)).astype(np.float32)


def _noise(rms: float, seconds: float = 10.0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(0)
    return (rms * rng.standard_normal(round(seconds * SR))).astype(np.float32)


def _syllables() -> npt.NDArray[np.float32]:
    """Voice-like: a 200 Hz buzz with harmonics, switched on and off four times a second."""
    t = np.arange(8 * SR) / SR
    buzz = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 12))
    gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(np.float64)
    return (0.1 * buzz * gate).astype(np.float32)


@pytest.mark.parametrize(
    ("audio", "low", "high"),
    [
        pytest.param(np.zeros(10 * SR, dtype=np.float32), 0.0, 0.0, id="digital-silence"),
        pytest.param(np.zeros(0, dtype=np.float32), 0.0, 0.0, id="no-samples"),
        pytest.param(np.zeros(100, dtype=np.float32), 0.0, 0.0, id="shorter-than-a-frame"),
        pytest.param(_noise(0.001), 0.0, 0.0, id="noise-at-60-dBFS"),
        pytest.param(_noise(0.03), 0.0, 0.0, id="steady-hiss-at-30-dBFS"),
        pytest.param(_tone(50.0, 0.5, 10.0), 0.0, 0.0, id="mains-hum"),
        pytest.param(_burst(440.0), 3.9, 4.1, id="tone-burst-4s"),
        pytest.param(_burst(1000.0, noise=0.001), 3.9, 4.1, id="tone-burst-over-quiet-noise"),
        pytest.param(_syllables(), 3.5, 5.0, id="syllables-half-of-8s"),
    ],
)
def test_voice_seconds(audio: npt.NDArray[np.float32], low: float, high: float) -> None:
    assert low <= quality.voice_seconds(audio) <= high


def test_voice_seconds_at_another_rate() -> None:
    t = np.arange(10 * 8000) / 8000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) * ((t >= 3) & (t < 7))).astype(np.float32)
    assert quality.voice_seconds(audio, sample_rate=8000) == pytest.approx(4.0, abs=0.1)


SONG_EXCERPT = TESTDATA / "music" / "jamendo_es_Fantasma_Los_Rombos.excerpt_17-51s.mp3"


@pytest.mark.skipif(not SONG_EXCERPT.exists(), reason="../shared/testdata is not present")
def test_voice_seconds_on_a_real_song() -> None:
    from textfromtrack.media.decode import decode_audio

    audio = decode_audio(SONG_EXCERPT, SR, 1)
    seconds = len(audio) / SR
    voiced = quality.voice_seconds(audio)
    # Sung vocals over a band: most of the excerpt carries voice-band energy.
    assert voiced > 10.0
    assert seconds / 2 < voiced <= seconds
    # So an empty transcript of it is poor, whatever the VAD thought.
    empty = Transcript("es", 0.5, seconds, (), "whisper-base", "faster-whisper")
    assert assess(empty, voiced).reasons == (EMPTY_TRANSCRIPT,)
