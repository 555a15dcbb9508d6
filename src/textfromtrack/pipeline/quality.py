"""Quality check of a transcript (DESIGN "A job, end to end", step 4).

Whisper base fails on music in a few known ways, and each has a detector here:

- **repetition loop**: a long intro or a held note becomes one line repeated over and
  over (``repetition_metrics``);
- **hallucinated filler**: background music turns into subtitle credits and YouTube
  outros ("Thanks for watching", "字幕由Amara.org社群提供", ...) learnt from the
  training data (``hallucination_fraction``);
- **dropped song**: instruments make the VAD drop the vocals, so the transcript is
  empty or nearly so over audio that clearly carries voice energy (``emptiness``);
- **dropped verses**: the VAD kept only part of the song, so the words span a small
  share of the voiced time (``voice_coverage`` from ``spoken_seconds``, reason
  ``low_coverage``); the detector's own kept seconds over the voiced ones
  (``vad_kept_share``) says the same before any word is judged (``decide``);
- **low confidence**: the decoder itself was unsure (``confidence``).

``assess`` combines them into a ``QualityReport``: hard reasons make it ``poor`` (a
standard job is then retried with vocal separation), a score in [0, 1] says how good
it looks, and ``usable_words`` (words, discounted for loops and filler) is what
``decide.choose`` keeps the better attempt by. Everything here is pure and
deterministic, with no I/O; ``voice_seconds`` reads only the samples it is given.

Score (documented here because attempts_log shows it)::

    useful     = max(0, 1 - hallucination_fraction - loop_fraction)
    fullness   = 1 - emptiness_penalty
    confidence = mean of the available ramps
                 ramp(avg_logprob, -1.5 -> -0.3) and ramp(mean word probability, 0.2 -> 0.8)
                 (1.0 when the transcript has no segments; 0.5 when its engine
                 reported neither statistic: unknown is neither sure nor unsure)
    raw        = useful * fullness * (0.5 + 0.5 * confidence)
    score      = 0.5 + 0.5 * raw   when no hard reason fires
               = 0.5 * raw         when the report is poor

so any acceptable attempt outranks any poor one, and attempts in the same band are
ordered by how much of their text is usable and how sure the model was.
``emptiness_penalty`` is 1 for an empty transcript over voiced audio and falls
linearly from 1 at 0 words per minute of voice to 0 at ``full_words_per_minute`` (20);
it is 0 under ``near_empty_min_voice_seconds`` (15 s) of voice.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from textfromtrack.pipeline.types import EngineSegment, Transcript

# Reason codes, in the order a report lists them. Stable: attempts_log and clients read them.
EMPTY_TRANSCRIPT = "empty_transcript"
NEAR_EMPTY_TRANSCRIPT = "near_empty_transcript"
REPETITION_LOOP = "repetition_loop"
HIGH_COMPRESSION_RATIO = "high_compression_ratio"
HALLUCINATION_PHRASE = "hallucination_phrase"
LOW_CONFIDENCE = "low_confidence"
LOW_COVERAGE = "low_coverage"
REASONS = (
    EMPTY_TRANSCRIPT,
    NEAR_EMPTY_TRANSCRIPT,
    LOW_COVERAGE,
    REPETITION_LOOP,
    HIGH_COMPRESSION_RATIO,
    HALLUCINATION_PHRASE,
    LOW_CONFIDENCE,
)


@dataclass(frozen=True)
class QualityThresholds:
    """Where a detector turns into a hard reason (the report is then ``poor``)."""

    # Whisper's own compression_ratio_threshold: a 30 s window whose text gzips (zlib,
    # as Whisper computes it) better than 2.4:1 is a decoding loop and is re-decoded at
    # a higher temperature. On the whole transcript it only counts together with
    # max_repeated_ngram_ratio, because long normal text compresses that well too.
    max_compression_ratio: float = 2.4
    # Share of word 3-5-grams (character n-grams in CJK) that repeat an earlier one. A
    # text made of one block said k times scores about (k-1)/k: a whole song with its
    # chorus sung three or four times is near 0.3, even a transcript that is nothing but
    # a chorus sung four times stays at 0.75, and one line sung 6+ times reaches 0.8.
    max_repeated_ngram_ratio: float = 0.8
    # The same line this many times in a row is a loop, not a chorus: a chorus line
    # repeated 2-4 times is normal in songs.
    max_line_run: int = 6
    # Share of the text in segments whose own compression ratio is above
    # max_compression_ratio (windows Whisper could not decode out of a loop).
    max_compressed_fraction: float = 0.25
    # Share of the text made of known hallucinated filler; a stray outro at the end
    # of otherwise good lyrics stays below it.
    max_hallucination_fraction: float = 0.25
    # A segment counts as filler when known phrases cover this share of its characters.
    phrase_coverage: float = 0.6
    # Whisper's logprob_threshold (-1.0): below it the decoder falls back to sampling
    # and treats the window as failed; a whole transcript below it is very unsure.
    min_avg_logprob: float = -1.0
    # Mean word probability under which most words are guesses (Whisper base on clear
    # singing gives 0.6-0.8; its hallucinated repeats of a line give about 0.15).
    min_word_probability: float = 0.25
    # No words over more than this much voiced audio is an empty transcript.
    empty_min_voice_seconds: float = 5.0
    # Fewer words per minute of voiced audio than this is a near-empty transcript
    # (songs run 40-150 words a minute, speech 120-180) ...
    near_empty_words_per_minute: float = 5.0
    # ... judged only over at least this much voice, so one word in a short clip passes.
    near_empty_min_voice_seconds: float = 15.0
    # Score only, never a hard reason: below this many words per minute of voice the
    # score drops linearly to 0 at 0 words, so of two attempts on the same audio the one
    # that kept more of the song ranks higher (a VAD that dropped two thirds of a song
    # leaves about 15 a minute; the whole song is about 45).
    full_words_per_minute: float = 20.0
    # Segment time over voiced time below this is a transcript that skipped most of the
    # song: VAD on the mix kept 31 s of the 137 voiced seconds of the shared song (0.23);
    # its 35 s excerpt kept 0.75, and speech is above 1 (Whisper's segments include pauses).
    min_voice_coverage: float = 0.35
    # ... judged only over this much voice: short clips are covered by one or two lines.
    coverage_min_voice_seconds: float = 30.0


DEFAULT_THRESHOLDS = QualityThresholds()


@dataclass(frozen=True)
class QualityReport:
    score: float  # 0..1, higher is better; see the module docstring
    poor: bool
    reasons: tuple[str, ...]
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for attempts_log (rounded: the log is for people and dashboards)."""
        return {
            "score": round(self.score, 4),
            "poor": self.poor,
            "reasons": list(self.reasons),
            "metrics": {k: round(v, 4) for k, v in self.metrics.items()},
        }


# --- text normalisation -------------------------------------------------------------

# Scripts written without spaces between words: each character is a token.
_NO_SPACE_SCRIPTS = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0002ffff"
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
)
_TOKEN = re.compile(rf"[{_NO_SPACE_SCRIPTS}]|(?:(?![{_NO_SPACE_SCRIPTS}])[^\W_])+(?:'[^\W_]+)*")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")


def tokens(text: str) -> list[str]:
    """Words, and single characters of scripts written without spaces (zh, ja, th)."""
    return _TOKEN.findall(_fold(text))


def _squash(text: str) -> str:
    """Letters, marks and digits only: no punctuation, symbols or whitespace.

    Phrase matching compares squashed strings, so "Thanks for watching!" and
    "thanks  for watching" match, and so do "请不吝点赞 订阅 转发" and "请不吝点赞订阅转发".
    """
    return "".join(c for c in _fold(text) if unicodedata.category(c)[0] in "LMN")


# --- repetition ---------------------------------------------------------------------


@dataclass(frozen=True)
class RepetitionMetrics:
    compression_ratio: float  # bytes / zlib-compressed bytes of the whole text (0 when empty)
    repeated_ngram_ratio: float  # mean over n=3..5 of 1 - distinct/total n-grams
    longest_line_run: int  # most consecutive identical (normalised) non-empty lines


def compression_ratio(text: str) -> float:
    """Whisper's measure: UTF-8 length over zlib-compressed length (gzip's deflate)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def repeated_ngram_ratio(toks: Sequence[str], sizes: Iterable[int] = (3, 4, 5)) -> float:
    """Mean over ``sizes`` of the share of n-grams that repeat an earlier n-gram."""
    ratios: list[float] = []
    for n in sizes:
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        if grams:
            ratios.append(1.0 - len(set(grams)) / len(grams))
    return sum(ratios) / len(ratios) if ratios else 0.0


def longest_line_run(lines: Iterable[str]) -> int:
    """Most consecutive identical lines, compared without case and punctuation."""
    best = run = 0
    previous: str | None = None
    for line in lines:
        key = _squash(line)
        if not key:
            continue  # a blank or "♪" line neither extends nor breaks a run
        run = run + 1 if key == previous else 1
        previous = key
        best = max(best, run)
    return best


def repetition_metrics(text: str, lines: Sequence[str] | None = None) -> RepetitionMetrics:
    """Loop evidence in ``text``; ``lines`` (default: its lines) are the segments."""
    return RepetitionMetrics(
        compression_ratio=compression_ratio(text),
        repeated_ngram_ratio=repeated_ngram_ratio(tokens(text)),
        longest_line_run=longest_line_run(text.splitlines() if lines is None else lines),
    )


def _loop_run_mask(lines: Sequence[str], min_run: int) -> list[bool]:
    """Which lines belong to a run of at least ``min_run`` identical lines."""
    keys = [_squash(line) for line in lines]
    mask = [False] * len(keys)
    start = 0
    while start < len(keys):
        end = start + 1
        while end < len(keys) and keys[end] == keys[start]:
            end += 1
        if keys[start] and end - start >= min_run:
            mask[start:end] = [True] * (end - start)
        start = end
    return mask


# --- hallucinated filler ------------------------------------------------------------

# Text Whisper is known to produce over music or silence: subtitle credits and video
# outros from its web-scraped training data. A segment is filler when these phrases
# (squashed: no case, punctuation or spaces) cover most of it (``phrase_coverage``).
HALLUCINATION_PHRASES: tuple[str, ...] = (
    # English
    "Thanks for watching",
    "Thank you for watching",
    "Thank you so much for watching",
    "Thanks for watching and see you next time",
    "Thank you for watching and see you next time",
    "Thanks for listening",
    "Please subscribe",
    "Please subscribe to my channel",
    "Subscribe to my channel",
    "Like and subscribe",
    "Please like and subscribe",
    "Don't forget to like and subscribe",
    "Don't forget to subscribe",
    "See you in the next video",
    "I'll see you in the next video",
    "See you next time",
    "Subtitles by the Amara.org community",
    "Transcription by CastingWords",
    "Subtitles by",
    "Captions by",
    "Transcribed by",
    # Chinese, simplified and traditional
    "字幕由Amara.org社群提供",
    "字幕由Amara.org社区提供",
    "字幕由Amara.org社區提供",
    "小编字幕由Amara.org社区提供",
    "由Amara.org社区提供的字幕",
    "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
    "請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目",
    "請不吝點讚 訂閱 轉發 打賞支持明鏡與點點欄目",
    "明镜需要您的支持 欢迎订阅明镜",
    "明鏡需要您的支持 歡迎訂閱明鏡",
    "点赞 订阅 转发 打赏",
    "點贊 訂閱 轉發 打賞",
    "谢谢观看",
    "謝謝觀看",
    "感谢观看",
    "感謝觀看",
    "谢谢大家观看",
    "謝謝大家觀看",
    "请订阅我的频道",
    "請訂閱我的頻道",
    "欢迎订阅",
    "歡迎訂閱",
    "中文字幕",
    # Japanese
    "ご視聴ありがとうございました",
    "ご視聴ありがとうございます",
    "最後までご視聴いただきありがとうございました",
    "チャンネル登録よろしくお願いします",
    "チャンネル登録お願いします",
    "チャンネル登録",
    # Spanish
    "Gracias por ver",
    "Gracias por ver el video",
    "Gracias por ver el vídeo",
    "Subtítulos realizados por la comunidad de Amara.org",
    "Subtítulos por la comunidad de Amara.org",
    "Suscríbete al canal",
    "Suscríbete",
    "No olvides suscribirte",
    # French
    "Sous-titrage ST' 501",
    "Sous-titres réalisés par la communauté d'Amara.org",
    "Sous-titrage Société Radio-Canada",
    "Sous-titrage FR",
    "Merci d'avoir regardé",
    "Merci d'avoir regardé cette vidéo",
    "Abonnez-vous",
    # German
    "Untertitel im Auftrag des ZDF",
    "Untertitel im Auftrag des ZDF für funk",
    "Untertitelung im Auftrag des ZDF",
    "Untertitel der Amara.org-Community",
    "Untertitel von Stephanie Geiges",
    "Vielen Dank fürs Zuschauen",
    "Danke fürs Zuschauen",
    "Bis zum nächsten Mal",
    # Korean
    "시청해주셔서 감사합니다",
    "시청해 주셔서 감사합니다",
    "구독과 좋아요 부탁드립니다",
    "구독과 좋아요 부탁드려요",
    "구독 좋아요 알림설정",
    "다음 영상에서 만나요",
    "자막 제공",
    # Portuguese
    "Obrigado por assistir",
    "Obrigada por assistir",
    "Legendas pela comunidade Amara.org",
    "Inscreva-se no canal",
    "Não se esqueça de se inscrever",
    # Italian and Russian: the same credits, seen often enough to list
    "Grazie per la visione",
    "Sottotitoli creati dalla comunità Amara.org",
    "Sottotitoli e revisione a cura di QTSS",
    "Спасибо за просмотр",
    "Редактор субтитров А.Семкин Корректор А.Егорова",
    "Субтитры сделал DimaTorzok",
    "Продолжение следует",
)

# Strings no lyric contains: a segment that has one is filler however long it is.
HALLUCINATION_MARKERS: tuple[str, ...] = (
    "Amara.org",
    "明镜与点点",
    "明鏡與點點",
    "CastingWords",
    "DimaTorzok",
    "字幕志愿者",
    "字幕志願者",
)

# Short outputs Whisper gives over music or silence that are also ordinary words, so
# they count only as a whole segment: inside lyrics "thank you" is just a lyric.
HALLUCINATION_EXACT: tuple[str, ...] = (
    "you",
    "thank you",
    "thank you very much",
    "thank you so much",
    "thanks",
    "bye",
    "bye bye",
    "music",
    "applause",
    "谢谢",
    "謝謝",
    "音乐",
    "音樂",
    "音楽",
    "ありがとうございました",
    "gracias",
    "música",
    "merci",
    "musique",
    "danke",
    "musik",
    "obrigado",
    "obrigada",
    "감사합니다",
    "음악",
)

# A whole segment in brackets naming one of these is a sound annotation ("[Music]",
# "(upbeat music)", "【音乐】"), not lyrics. Other bracketed lines ("(ooh, ooh)") are
# backing vocals, and "♪ ... ♪" is how Whisper marks sung lyrics: both are kept.
ANNOTATION_WORDS: tuple[str, ...] = (
    "music",
    "musique",
    "música",
    "musica",
    "musik",
    "instrumental",
    "applause",
    "laughter",
    "laughs",
    "silence",
    "音乐",
    "音樂",
    "音楽",
    "掌声",
    "掌聲",
    "拍手",
    "음악",
    "박수",
)

_PHRASES = tuple(sorted({_squash(p) for p in HALLUCINATION_PHRASES}, key=len, reverse=True))
_MARKERS = tuple(_squash(m) for m in HALLUCINATION_MARKERS)
_EXACT = frozenset(_squash(e) for e in HALLUCINATION_EXACT)
_ANNOTATION_WORDS = tuple(_squash(w) for w in ANNOTATION_WORDS)
_BRACKETED = re.compile(r"^\s*[\[(（【<](.{0,60})[\])）】>]\s*$", re.DOTALL)


def _is_annotation(text: str) -> bool:
    match = _BRACKETED.match(text)
    if match is None:
        return False
    inside = _squash(match.group(1))
    return any(word in inside for word in _ANNOTATION_WORDS)


def _coverage(squashed: str) -> float:
    """Share of ``squashed`` covered by occurrences of known phrases."""
    covered = bytearray(len(squashed))
    for phrase in _PHRASES:
        at = squashed.find(phrase)
        while at >= 0:
            covered[at : at + len(phrase)] = b"\x01" * len(phrase)
            at = squashed.find(phrase, at + 1)
    return sum(covered) / len(squashed)


def is_hallucination(text: str, coverage: float = DEFAULT_THRESHOLDS.phrase_coverage) -> bool:
    """Whether one segment's text is known filler rather than something heard."""
    squashed = _squash(text)
    if not squashed:
        return False
    if squashed in _EXACT or _is_annotation(text):
        return True
    if any(marker in squashed for marker in _MARKERS):
        return True
    return _coverage(squashed) >= coverage


def hallucination_fraction(
    segments: Sequence[EngineSegment], coverage: float = DEFAULT_THRESHOLDS.phrase_coverage
) -> float:
    """Share of the transcript's characters (squashed) in segments that are filler."""
    total = bad = 0
    for seg in segments:
        size = len(_squash(seg.text))
        total += size
        if size and is_hallucination(seg.text, coverage):
            bad += size
    return bad / total if total else 0.0


# --- confidence ---------------------------------------------------------------------


@dataclass(frozen=True)
class Confidence:
    avg_logprob: float | None  # segments' avg_logprob weighted by duration
    mean_word_probability: float | None  # over all words
    no_speech_prob: float | None  # segments' no_speech_prob weighted by duration
    # The transcript has text but its engine reported none of these statistics (a
    # remote server that leaves them out): unknown, which is not the same as sure.
    unknown: bool = False


# The confidence score of a transcript whose engine gave no statistics: halfway, so it
# neither outranks an attempt the decoder was sure of nor loses to one it doubted.
UNKNOWN_CONFIDENCE = 0.5


def _weighted(pairs: list[tuple[float, float | None]]) -> float | None:
    """Mean of the known values, weighted (equally when all weights are zero)."""
    known = [(w, v) for w, v in pairs if v is not None]
    if not known:
        return None
    total = sum(w for w, _ in known)
    if total <= 0:
        return sum(v for _, v in known) / len(known)  # all zero-length: weigh them equally
    return sum(w * v for w, v in known) / total


def confidence(transcript: Transcript) -> Confidence:
    """The decoder's own certainty; None where nothing was reported to average.

    Statistics an engine left out (None) are skipped, never read as 0 or as certain.
    """
    segments = [s for s in transcript.segments if s.text.strip()]
    probabilities = [w.probability for s in segments for w in s.words if w.probability is not None]
    word_probability = sum(probabilities) / len(probabilities) if probabilities else None
    if not segments:
        return Confidence(None, word_probability, None)
    weights = [max(s.end - s.start, 0.0) for s in segments]
    avg_logprob = _weighted([(w, s.avg_logprob) for w, s in zip(weights, segments, strict=True)])
    no_speech = _weighted([(w, s.no_speech_prob) for w, s in zip(weights, segments, strict=True)])
    return Confidence(
        avg_logprob=avg_logprob,
        mean_word_probability=word_probability,
        no_speech_prob=no_speech,
        unknown=avg_logprob is None and word_probability is None,
    )


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between and clamped outside."""
    return min(1.0, max(0.0, (value - low) / (high - low)))


def confidence_score(conf: Confidence) -> float:
    """Confidence as 0..1: the mean of the ramps of the statistics that exist.

    With none: ``UNKNOWN_CONFIDENCE`` when the engine did not report them, 1.0 when
    there was no text to be unsure of (emptiness is judged on its own).
    """
    parts: list[float] = []
    if conf.avg_logprob is not None:
        parts.append(_ramp(conf.avg_logprob, -1.5, -0.3))
    if conf.mean_word_probability is not None:
        parts.append(_ramp(conf.mean_word_probability, 0.2, 0.8))
    if parts:
        return sum(parts) / len(parts)
    return UNKNOWN_CONFIDENCE if conf.unknown else 1.0


def is_low_confidence(conf: Confidence, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> bool:
    return (conf.avg_logprob is not None and conf.avg_logprob < thresholds.min_avg_logprob) or (
        conf.mean_word_probability is not None
        and conf.mean_word_probability < thresholds.min_word_probability
    )


# --- emptiness ----------------------------------------------------------------------


def words_per_minute(word_count: int, voice_seconds: float) -> float | None:
    """Words per minute of voiced audio; None when there is no voice to divide by."""
    if voice_seconds <= 0:
        return None
    return word_count * 60.0 / voice_seconds


def emptiness(
    word_count: int, voice_seconds: float, thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> str | None:
    """``empty_transcript``, ``near_empty_transcript`` or None (enough text for the voice)."""
    if word_count == 0:
        return EMPTY_TRANSCRIPT if voice_seconds > thresholds.empty_min_voice_seconds else None
    rate = words_per_minute(word_count, voice_seconds)
    if (
        rate is not None
        and voice_seconds >= thresholds.near_empty_min_voice_seconds
        and rate < thresholds.near_empty_words_per_minute
    ):
        return NEAR_EMPTY_TRANSCRIPT
    return None


def emptiness_penalty(
    word_count: int, voice_seconds: float, thresholds: QualityThresholds = DEFAULT_THRESHOLDS
) -> float:
    """1 for no words over voice, falling to 0 at ``full_words_per_minute`` of voice."""
    if word_count == 0:
        return 1.0 if voice_seconds > thresholds.empty_min_voice_seconds else 0.0
    rate = words_per_minute(word_count, voice_seconds)
    if rate is None or voice_seconds < thresholds.near_empty_min_voice_seconds:
        return 0.0
    return 1.0 - _ramp(rate, 0.0, thresholds.full_words_per_minute)


# --- the verdict --------------------------------------------------------------------


def assess(
    transcript: Transcript,
    voice_seconds: float | None,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
) -> QualityReport:
    """Judge one attempt's transcript.

    ``voice_seconds`` is how much of the audio carries voice energy (see
    ``voice_seconds``); None when unknown, and then the transcript's duration stands in
    for it, so an empty transcript of a long file is poor.
    """
    segments = [s for s in transcript.segments if s.text.strip()]
    lines = [s.text.strip() for s in segments]
    text = "\n".join(lines)
    sizes = [len(_squash(line)) for line in lines]
    total_chars = sum(sizes)

    repetition = repetition_metrics(text, lines)
    # Segments Whisper could not decode out of a loop: their own ratio (or the one the
    # engine measured on their 30 s window, when it reported one) is above Whisper's 2.4.
    compressed = [
        max(s.compression_ratio or 0.0, compression_ratio(line)) > thresholds.max_compression_ratio
        for s, line in zip(segments, lines, strict=True)
    ]
    in_runs = _loop_run_mask(lines, thresholds.max_line_run)
    looped_chars = sum(
        size for size, c, r in zip(sizes, compressed, in_runs, strict=True) if c or r
    )
    compressed_fraction = (
        sum(size for size, c in zip(sizes, compressed, strict=True) if c) / total_chars
        if total_chars
        else 0.0
    )
    loop_fraction = looped_chars / total_chars if total_chars else 0.0
    whole_text_loop = (
        repetition.compression_ratio > thresholds.max_compression_ratio
        and repetition.repeated_ngram_ratio >= thresholds.max_repeated_ngram_ratio
    )
    if whole_text_loop:
        loop_fraction = max(loop_fraction, repetition.repeated_ngram_ratio)

    filler = hallucination_fraction(segments, thresholds.phrase_coverage)
    conf = confidence(transcript)
    word_count = len(tokens(text))
    voice = transcript.duration_seconds if voice_seconds is None else voice_seconds
    voice = max(0.0, voice)
    rate = words_per_minute(word_count, voice)

    coverage = spoken_seconds(transcript) / voice if voice > 0 else None

    reasons: list[str] = []
    empty = emptiness(word_count, voice, thresholds)
    if empty is not None:
        reasons.append(empty)
    elif (
        coverage is not None
        and voice >= thresholds.coverage_min_voice_seconds
        and coverage < thresholds.min_voice_coverage
    ):
        reasons.append(LOW_COVERAGE)
    if whole_text_loop or repetition.longest_line_run >= thresholds.max_line_run:
        reasons.append(REPETITION_LOOP)
    if total_chars and compressed_fraction >= thresholds.max_compressed_fraction:
        reasons.append(HIGH_COMPRESSION_RATIO)
    if filler >= thresholds.max_hallucination_fraction:
        reasons.append(HALLUCINATION_PHRASE)
    if is_low_confidence(conf, thresholds):
        reasons.append(LOW_CONFIDENCE)

    useful = max(0.0, 1.0 - filler - loop_fraction)
    fullness = 1.0 - emptiness_penalty(word_count, voice, thresholds)
    raw = useful * fullness * (0.5 + 0.5 * confidence_score(conf))
    poor = bool(reasons)
    score = 0.5 * raw if poor else 0.5 + 0.5 * raw

    metrics: dict[str, float] = {
        "compression_ratio": repetition.compression_ratio,
        "repeated_ngram_ratio": repetition.repeated_ngram_ratio,
        "longest_line_run": float(repetition.longest_line_run),
        "compressed_segment_fraction": compressed_fraction,
        "loop_fraction": loop_fraction,
        "hallucination_fraction": filler,
        "word_count": float(word_count),
        "voice_seconds": voice,
        "duration_seconds": transcript.duration_seconds,
    }
    # Words that carry lyrics or speech: loops and filler discounted. Two attempts on
    # the same audio are chosen between by this (``choose``), so deletions lose.
    metrics["usable_words"] = word_count * useful
    if rate is not None:
        metrics["words_per_minute_of_voice"] = rate
    share = kept_share(transcript.vad_kept_seconds, voice)
    if share is not None:
        metrics["vad_kept_share"] = share
    if coverage is not None:
        metrics["voice_coverage"] = coverage
    if conf.avg_logprob is not None:
        metrics["avg_logprob"] = conf.avg_logprob
    if conf.no_speech_prob is not None:
        metrics["no_speech_prob"] = conf.no_speech_prob
    if conf.mean_word_probability is not None:
        metrics["mean_word_probability"] = conf.mean_word_probability
    return QualityReport(score=score, poor=poor, reasons=tuple(reasons), metrics=metrics)


# Gaps between words up to this long count as covered: the breath between two words
# of one phrase is part of it, a pause the voice detector cut is not.
WORD_BRIDGE_SECONDS = 0.5


def spoken_seconds(transcript: Transcript, bridge: float = WORD_BRIDGE_SECONDS) -> float:
    """Seconds the transcript's text really spans: the union of its words' times with
    gaps up to ``bridge`` filled, or its segments' spans when it has no words.

    Segment spans overstate it: when the voice detector cut a stretch out of the middle
    of a window, faster-whisper gives the segment the first kept start and the last
    kept end, so a mix whose detector kept 80 of 181 voiced seconds read 0.97 coverage.
    Words are restored to the original timeline one by one and do not bridge the cut.
    """
    spans = sorted((w.start, w.end) for s in transcript.segments if s.text.strip() for w in s.words)
    if not spans:
        spans = sorted((s.start, s.end) for s in transcript.segments if s.text.strip())
        bridge = 0.0
    total = 0.0
    run_start: float | None = None
    run_end = 0.0
    for start, end in spans:
        end = max(start, end)
        if run_start is None:
            run_start, run_end = start, end
        elif start <= run_end + bridge:
            run_end = max(run_end, end)
        else:
            total += run_end - run_start
            run_start, run_end = start, end
    if run_start is not None:
        total += run_end - run_start
    return total


def kept_share(vad_kept_seconds: float | None, voice_seconds: float) -> float | None:
    """The voice detector's kept seconds over the voiced seconds (None when unknown).

    Speech keeps more than is voiced (1.4-1.7 on the test clips: the detector pads
    and keeps pauses); a song's mix, where the speech detector hears instruments
    rather than a voice, kept 0.18-0.50 of it on the dev songs.
    """
    if vad_kept_seconds is None or voice_seconds <= 0:
        return None
    return vad_kept_seconds / voice_seconds


def compare(a: QualityReport, b: QualityReport) -> int:
    """1 when ``a`` scores higher, -1 when ``b`` does, 0 on a tie."""
    if math.isclose(a.score, b.score, rel_tol=0.0, abs_tol=1e-9):
        return 0
    return 1 if a.score > b.score else -1


def better(challenger: QualityReport, incumbent: QualityReport) -> bool:
    """Whether ``challenger`` should replace ``incumbent``: strictly higher score only.

    Called as ``better(later_attempt, earlier_attempt)``, a tie keeps the earlier one.
    """
    return compare(challenger, incumbent) > 0


# --- voice energy -------------------------------------------------------------------

VOICE_SAMPLE_RATE = 16_000
_FRAME_SECONDS = 0.03
_BAND_HZ = (300.0, 3400.0)  # the telephone band, where voice (sung or spoken) lives
# Frames whose band level (dBFS) is below this are never voice: digital silence, hiss.
_ABSOLUTE_FLOOR_DB = -50.0
# A frame counts when its band level is this far above the noise floor (10th percentile
# of frames) or within _BELOW_PEAK_DB of the loud frames (95th percentile), whichever is
# the lower bar: continuous music has no quiet frames to learn a floor from.
_ABOVE_FLOOR_DB = 10.0
_BELOW_PEAK_DB = 20.0
# Voice and music rise and fall from one 30 ms frame to the next; a level that spans
# less than this between its quiet and loud frames is steady noise (hiss, fan, a test
# tone), whatever its loudness.
_MIN_DYNAMIC_DB = 3.0
_CHUNK_FRAMES = 4096  # bounds the FFT's memory on long files


def voiced_frames(
    audio: npt.NDArray[np.floating], sample_rate: int = VOICE_SAMPLE_RATE
) -> tuple[npt.NDArray[np.bool_], float]:
    """Which 30 ms frames of ``audio`` carry voice-like energy, and the frame length (s).

    Each frame's level is measured in the 300-3400 Hz band alone (its share of the
    spectrum), which discounts hum, rumble and bass: a gate on the band's *ratio* to
    the whole spectrum would reject real speech over low-frequency room noise. A frame
    counts when that level clears an adaptive noise floor and an absolute -50 dBFS.
    """
    samples = np.nan_to_num(np.asarray(audio, dtype=np.float64).reshape(-1))
    frame = max(8, round(_FRAME_SECONDS * sample_rate))
    count = samples.size // frame
    if count == 0:
        return np.zeros(0, dtype=np.bool_), frame / sample_rate
    frames = samples[: count * frame].reshape(count, frame)
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    in_band = (freqs >= _BAND_HZ[0]) & (freqs <= _BAND_HZ[1])
    window = np.hanning(frame)
    band_energy = np.empty(count, dtype=np.float64)
    for start in range(0, count, _CHUNK_FRAMES):
        chunk = frames[start : start + _CHUNK_FRAMES]
        power = np.abs(np.fft.rfft(chunk * window, axis=1)) ** 2
        band_energy[start : start + len(chunk)] = power[:, in_band].sum(axis=1)
    # Parseval for a one-sided spectrum with the Hann window's power (3/8): the band's
    # mean square, so a full-scale sine in the band reads about -3 dBFS.
    scale = frame * frame * 0.375 / 2.0
    level_db = 10.0 * np.log10(band_energy / scale + 1e-12)
    floor_db, peak_db = (float(p) for p in np.percentile(level_db, [10.0, 95.0]))
    if peak_db - floor_db < _MIN_DYNAMIC_DB:
        return np.zeros(count, dtype=np.bool_), frame / sample_rate
    threshold = max(_ABSOLUTE_FLOOR_DB, min(floor_db + _ABOVE_FLOOR_DB, peak_db - _BELOW_PEAK_DB))
    return level_db > threshold, frame / sample_rate


def voice_seconds(audio: npt.NDArray[np.floating], sample_rate: int = VOICE_SAMPLE_RATE) -> float:
    """Estimated seconds of ``audio`` (mono float, full scale 1.0) with voice-like energy.

    An estimate, used to tell whether an empty transcript is suspicious and how much
    of the voice an attempt kept (``voiced_frames``). Music with vocals counts as
    voiced (so does most music: this is not a singing detector); digital silence,
    quiet noise and steady noise do not. On a separated vocal stem, where the
    instruments are gone, it measures the singing.
    """
    mask, frame_seconds = voiced_frames(audio, sample_rate)
    return float(np.count_nonzero(mask)) * frame_seconds
