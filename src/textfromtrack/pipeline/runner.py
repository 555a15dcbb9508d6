"""The transcription pipeline for one upload, free of HTTP and the database.

Standard jobs: decode -> recognise on the mix -> quality check; a poor result, or
one whose speech detector dropped most of the voiced audio (music), is retried once
with the vintage pipeline (separate vocals -> recognise the stem) and the attempt
with more usable words wins (``decide``). Vintage jobs run the vintage pipeline only.
Then post-processing: Chinese script, pinyin. ``checkpoint`` runs between stages
so a cancelled job stops at the next boundary; ``progress`` may also abort.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from textfromtrack.media.decode import decode_audio
from textfromtrack.pipeline import alignment, chinese, decide, pinyin, quality, vocal_activity
from textfromtrack.pipeline.engines.base import (
    SAMPLE_RATE,
    Audio,
    AudioInput,
    Engine,
    ProgressCallback,
    TranscribeOptions,
)
from textfromtrack.pipeline.lines import SPEECH, SUNG, LinePolicy, reindex, segments_from_words
from textfromtrack.pipeline.separation.base import Separator
from textfromtrack.pipeline.separation.stem import blend_mix, vocal_stem
from textfromtrack.pipeline.types import Segment, Transcript

Checkpoint = Callable[[], None]
# Told the stage the job enters (one of STAGE_NAMES' values, or "retrying"), so a
# person watching the job sees what it is doing; may raise to abort like ``progress``.
StageCallback = Callable[[str], None]
# Told attempts_log as it stands each time an attempt finishes (verdicts "poor" or
# "passed" until the winner is chosen), so the log grows while the job runs.
AttemptsCallback = Callable[[list[dict[str, Any]]], None]


def _no_checkpoint() -> None:
    return None


# Where an attempt's time goes, in attempts_log's "stages" and the lyrics benchmark.
# decode: the file to samples (and the voice measure the quality check needs);
# separate: the vocal stem, resampled for the recogniser; recognise: the engine;
# postprocess: the quality check and lines (and, for the winner, script and pinyin).
STAGES = ("decode", "separate", "recognise", "postprocess")
# What a job shows while it is in each of STAGES; "retrying" marks the move from a
# poor standard attempt to the music-mode one.
STAGE_NAMES = {
    "decode": "decoding",
    "separate": "separating",
    "recognise": "recognising",
    "postprocess": "postprocessing",
}
RETRYING = "retrying"


class StageClock:
    """Seconds per stage, added up across ``with clock.stage(name):`` blocks."""

    def __init__(self, on_stage: StageCallback | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self._on_stage = on_stage

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._on_stage is not None:
            self._on_stage(STAGE_NAMES[name])
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


@dataclass(frozen=True)
class Attempt:
    number: int
    pipeline: str  # "standard" or "vintage"
    transcript: Transcript
    segments: list[Segment]
    seconds: float
    separator: str | None
    report: quality.QualityReport
    # Seconds per entry of STAGES that this attempt ran.
    stages: dict[str, float] = field(default_factory=dict)
    # Run by one worker, whose job then went on to the vintage queue for music mode.
    handed_off: bool = False
    # A vintage attempt's share of the mix blended into the stem it decoded (0: the
    # stem alone), logged so that two attempts_log entries say what each engine heard.
    mix_share: float | None = None

    def log_entry(
        self, verdict: str, extra: dict[str, float] | None = None, why: str | None = None
    ) -> dict[str, Any]:
        """``why``: the decision taken on this attempt (retry, choice), in words."""
        stages = dict(self.stages)
        for name, seconds in (extra or {}).items():
            stages[name] = stages.get(name, 0.0) + seconds
        return {
            "attempt": self.number,
            "pipeline": self.pipeline,
            "engine": self.transcript.engine,
            "model": self.transcript.model,
            "separator": self.separator,
            "seconds": round(self.seconds, 3),
            "stages": {k: round(v, 3) for k, v in stages.items()},
            "language": self.transcript.language,
            "quality": self.report.to_dict(),
            "verdict": verdict,
            **({"mix_share": self.mix_share} if self.mix_share is not None else {}),
            **({"why": why} if why else {}),
            **({"handed_off": True} if self.handed_off else {}),
        }


@dataclass(frozen=True)
class Outcome:
    winner: Attempt  # one of ``attempts``
    attempts: list[Attempt]
    segments: list[Segment]  # the winner's, post-processed
    # Chinese script and pinyin on the winner's lines, counted in its "postprocess".
    postprocess_seconds: float = 0.0
    # Attempt number -> the decision taken on it, in words (attempts_log's "why").
    why: dict[int, str] = field(default_factory=dict)
    # With the user's lyrics: how they were aligned (the winner's attempts_log "lyrics").
    lyrics: dict[str, Any] | None = None

    @property
    def degraded(self) -> bool:
        return self.winner.report.poor

    @property
    def vocal_separation_used(self) -> bool:
        return any(a.separator is not None for a in self.attempts)

    @property
    def attempts_log(self) -> list[dict[str, Any]]:
        return [
            a.log_entry(
                "accepted", {"postprocess": self.postprocess_seconds}, self.why.get(a.number)
            )
            | ({"lyrics": self.lyrics} if self.lyrics else {})
            if a is self.winner
            else a.log_entry("rejected", why=self.why.get(a.number))
            for a in self.attempts
        ]


@dataclass(frozen=True)
class JobPlan:
    vintage: bool
    retry_when_poor: bool
    standard_options: TranscribeOptions
    vintage_options: TranscribeOptions
    pinyin: bool
    chinese_script: chinese.ChineseScript
    # What finds the singing on the vocal stem: "silero" or "energy" (vintage_attempt).
    vintage_detector: str = "silero"
    # When a standard attempt that passed the quality check is music all the same.
    routing: decide.RoutingRule = decide.DEFAULT_RULE
    # The user's own lyrics: they replace the winner's words, timed on its audio.
    lyrics: str | None = None
    # What finds the singing on the stem instead of vintage_detector when lyrics are
    # given (stem_detector).
    alignment_detector: str = "energy"
    # How much of the mix the vintage attempt's engine hears beside the stem (blend_mix).
    vintage_mix_share: float = 0.0


def stem_mix_share(plan: JobPlan) -> float:
    """How much of the mix ``plan``'s vintage attempt hears with the stem.

    0 (the stem alone) for a job with lyrics: the alignment figures
    (benchmarks/alignment.py) were measured on the stem alone, and the forced aligner
    listens to the stem alone.
    """
    return 0.0 if plan.lyrics else plan.vintage_mix_share


def stem_detector(plan: JobPlan) -> str:
    """What finds the singing on the vocal stem for ``plan``'s vintage attempt.

    With the user's lyrics the decode's words are replaced by the user's (they still
    report quality, and how many of the user's words they anchor weighs in the choice
    between the attempts, ``decide.choose_for_lyrics``): the decode has to say where each sung
    passage is, for the alignment to place the user's words there. The stem's own
    energy keeps sung passages that Silero (a speech detector) drops, which is what
    alignment needs (benchmarks/alignment.py); its worse words (a loop on the metal
    song) matter less there, and they are why it is not the default for transcription.
    """
    return plan.alignment_detector if plan.lyrics else plan.vintage_detector


@dataclass(frozen=True)
class Engines:
    """Loaders, called only when an attempt needs them (models are heavy)."""

    standard: Callable[[], Engine]
    vintage: Callable[[], Engine]
    separator: Callable[[], Separator]


def transcript_lines(transcript: Transcript, policy: LinePolicy = SPEECH) -> list[Segment]:
    """Lyric-sized lines from word timings, or the engine's segments when it gave no words.

    ``SUNG`` for music (the vocal stem, or a mix music mode lost to): lines broken
    where the annotated dev songs break them (``lines``), not where speech pauses."""
    words = transcript.words
    if words:
        return segments_from_words(words, policy)
    return reindex(
        Segment(index=0, start=s.start, end=s.end, text=s.text.strip())
        for s in transcript.segments
        if s.text.strip()
    )


def _span(progress: ProgressCallback | None, start: float, end: float) -> ProgressCallback | None:
    if progress is None:
        return None
    outer = progress

    def scaled(fraction: float) -> None:
        outer(start + (end - start) * min(max(fraction, 0.0), 1.0))

    return scaled


def standard_attempt(
    number: int,
    audio: AudioInput | Audio,
    engine: Engine,
    options: TranscribeOptions,
    voiced_seconds: float | None,
    progress: ProgressCallback | None = None,
    decode_seconds: float = 0.0,
    on_stage: StageCallback | None = None,
) -> Attempt:
    """``decode_seconds``: what the caller spent getting ``audio``, listed in ``stages``.

    ``audio`` carries the upload's path when there is one, for an engine that sends the
    file (the OpenAI-compatible one) rather than reading the samples.

    ``seconds`` stays what it always was for a standard attempt (recognition and the
    checks, not the decode that a retry shares), so stages may add up to a bit more.
    """
    started = time.perf_counter()
    clock = StageClock(on_stage)
    clock.seconds["decode"] = decode_seconds
    with clock.stage("recognise"):
        transcript = engine.transcribe(AudioInput.of(audio), options, progress)
    with clock.stage("postprocess"):
        report = quality.assess(transcript, voiced_seconds)
        lines = transcript_lines(transcript)
    return Attempt(
        number,
        "standard",
        transcript,
        lines,
        time.perf_counter() - started,
        None,
        report,
        clock.seconds,
    )


def vintage_attempt(
    number: int,
    audio_path: Path,
    separator: Separator,
    engine: Engine,
    options: TranscribeOptions,
    progress: ProgressCallback | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
    on_stage: StageCallback | None = None,
    detector: str = "silero",
    mix_share: float = 0.0,
) -> Attempt:
    """``detector``: what finds the singing on the stem. ``silero``: the engine's voice
    detector with ``options``' settings; ``energy``: the stem's own band energy
    (``vocal_activity``), whose regions are all the engine decodes. ``mix_share``: how
    much of the original mix the engine hears blended into the stem (``blend_mix``);
    the voice is still measured, and the singing found, on the stem alone."""
    started = time.perf_counter()
    clock = StageClock(on_stage)
    checkpoint()
    with clock.stage("separate"):
        separated = vocal_stem(separator, audio_path, _span(progress, 0.0, 0.5))
        checkpoint()
        stem = separated.samples
        # Voice energy is judged on the stem: instruments no longer count as voice.
        mask, frame_seconds = quality.voiced_frames(stem)
        voiced = float(mask.sum()) * frame_seconds
        if detector == "energy":
            regions = vocal_activity.regions_from_mask(mask, frame_seconds, len(stem) / SAMPLE_RATE)
            if regions:  # none: a stem with no singing in it; let the engine's detector look
                options = replace(options, clip_regions=tuple(regions))
        decode_seconds = separated.decode_seconds
        heard = stem
        if mix_share > 0.0:
            decoding = time.perf_counter()
            mix = decode_audio(audio_path, SAMPLE_RATE, 1)
            decode_seconds += time.perf_counter() - decoding
            heard = blend_mix(stem, mix, mix_share)
            del mix
    # The file is decoded piece by piece inside separation; its share is reported apart.
    clock.seconds = {"decode": decode_seconds, **clock.seconds}
    clock.seconds["separate"] -= decode_seconds
    with clock.stage("recognise"):
        transcript = engine.transcribe(AudioInput.of(heard), options, _span(progress, 0.5, 1.0))
    with clock.stage("postprocess"):
        report = quality.assess(transcript, voiced)
        lines = transcript_lines(transcript, SUNG)
    return Attempt(
        number,
        "vintage",
        transcript,
        lines,
        time.perf_counter() - started,
        separator.name,
        report,
        clock.seconds,
        mix_share=mix_share,
    )


# Told the first attempt and attempts_log as it stands when a standard attempt needs
# music mode and the caller has that attempt run elsewhere (a fleet's vintage queue,
# then ``resume``). It must end the run by raising; nothing after it runs here.
ContinueElsewhere = Callable[[Attempt, list[dict[str, Any]]], None]


class _Book:
    """The attempts of one run so far, and the decision taken on each, in words."""

    def __init__(self, on_attempt: AttemptsCallback | None) -> None:
        self.attempts: list[Attempt] = []
        self.why: dict[int, str] = {}
        self._on_attempt = on_attempt

    def interim_log(self) -> list[dict[str, Any]]:
        return [
            a.log_entry("poor" if a.report.poor else "passed", why=self.why.get(a.number))
            for a in self.attempts
        ]

    def finished(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        if self._on_attempt is not None:
            self._on_attempt(self.interim_log())


def _vintage(
    number: int,
    audio_path: Path,
    plan: JobPlan,
    engines: Engines,
    span: ProgressCallback | None,
    checkpoint: Checkpoint,
    on_stage: StageCallback | None,
) -> Attempt:
    return vintage_attempt(
        number,
        audio_path,
        engines.separator(),
        engines.vintage(),
        plan.vintage_options,
        span,
        checkpoint,
        on_stage,
        stem_detector(plan),
        stem_mix_share(plan),
    )


def run(
    audio_path: Path,
    plan: JobPlan,
    engines: Engines,
    progress: ProgressCallback | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
    on_stage: StageCallback | None = None,
    on_attempt: AttemptsCallback | None = None,
    continue_elsewhere: ContinueElsewhere | None = None,
) -> Outcome:
    checkpoint()
    stage: StageCallback = on_stage or (lambda _name: None)
    book = _Book(on_attempt)
    if plan.vintage:
        book.finished(_vintage(1, audio_path, plan, engines, progress, checkpoint, on_stage))
    else:
        stage(STAGE_NAMES["decode"])
        decoding = time.perf_counter()
        # Decoded once: for the voice measure here and for a local engine; a remote
        # engine sends the file itself.
        source = AudioInput(audio_path)
        voiced = quality.voice_seconds(source.samples)
        decoded = time.perf_counter() - decoding
        checkpoint()
        # Leave room on the progress bar for a retry only when one may happen.
        share = MUSIC_SHARE if plan.retry_when_poor else 1.0
        first = standard_attempt(
            1,
            source,
            engines.standard(),
            plan.standard_options,
            voiced,
            _span(progress, 0, share),
            decoded,
            on_stage,
        )
        source.release()
        decision = decide.needs_music_mode(first.report, plan.routing)
        retry = decision.retry and plan.retry_when_poor
        book.why[1] = decision.why + (
            "" if not decision.retry else "; retried in music mode" if retry else "; retry is off"
        )
        book.finished(first)
        if retry:
            checkpoint()
            if continue_elsewhere is not None:
                book.attempts[-1] = first = replace(first, handed_off=True)
                continue_elsewhere(first, book.interim_log())
                raise RuntimeError("continue_elsewhere returned instead of ending the run")
            stage(RETRYING)
            span = _span(progress, share, 1.0)
            book.finished(_vintage(2, audio_path, plan, engines, span, checkpoint, on_stage))
    return _conclude(book, plan, stage, checkpoint, audio_path, engines)


# The share of the progress bar the standard attempt fills when a retry may follow.
MUSIC_SHARE = 0.5


def resume(
    audio_path: Path,
    plan: JobPlan,
    engines: Engines,
    first: Attempt,
    first_why: str,
    progress: ProgressCallback | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
    on_stage: StageCallback | None = None,
    on_attempt: AttemptsCallback | None = None,
) -> Outcome:
    """The music-mode attempt of a standard job whose first attempt ran elsewhere
    (``first``, rebuilt from what that run stored), then the choice, as ``run`` makes it."""
    checkpoint()
    stage: StageCallback = on_stage or (lambda _name: None)
    book = _Book(on_attempt)
    book.attempts.append(first)
    book.why[first.number] = first_why
    stage(RETRYING)
    span = _span(progress, MUSIC_SHARE, 1.0)
    book.finished(_vintage(2, audio_path, plan, engines, span, checkpoint, on_stage))
    return _conclude(book, plan, stage, checkpoint, audio_path, engines)


def kept_lines(winner: Attempt, music: bool) -> list[Segment]:
    """The kept attempt's lines: a standard attempt kept although the job went to music
    mode (``music``) is a song's mix, so its lines are split as a song's (SUNG was better
    on every dev song's mix too), from the words its speech lines carry."""
    if winner.pipeline != "standard" or not music:
        return winner.segments
    return segments_from_words([w for s in winner.segments for w in s.words], SUNG) or (
        winner.segments
    )


def _conclude(
    book: _Book,
    plan: JobPlan,
    stage: StageCallback,
    checkpoint: Checkpoint,
    audio_path: Path,
    engines: Engines,
) -> Outcome:
    checkpoint()
    attempts, why = book.attempts, book.why
    if plan.lyrics and len(attempts) > 1:
        # The user's words replace the decode's: keep the attempt that places them best
        # (music mode's stem, unless the mix heard far more of them).
        heard = [alignment.lyric_words_heard(plan.lyrics, a.transcript.words) for a in attempts]
        best, chosen = decide.choose_for_lyrics(heard)
    else:
        best, chosen = decide.choose([a.report for a in attempts], plan.routing.replace_margin)
    winner = attempts[best]
    if len(attempts) > 1:
        why[winner.number] = (
            why[winner.number] + "; kept: " + chosen if winner.number in why else "kept: " + chosen
        )
    stage(STAGE_NAMES["postprocess"])
    posting = time.perf_counter()
    lines = kept_lines(winner, music=len(attempts) > 1)
    aligned = None
    if plan.lyrics:
        aligned = alignment.align_winner(plan.lyrics, winner, audio_path, engines)
        lines = aligned.segments
    segments = postprocess(lines, winner.transcript.language, plan)
    return Outcome(
        winner,
        attempts,
        segments,
        time.perf_counter() - posting,
        why,
        aligned.log_entry() if aligned else None,
    )


def postprocess(segments: list[Segment], language: str, plan: JobPlan) -> list[Segment]:
    """Chinese script first (pinyin reads the final characters), then pinyin."""
    if language not in chinese.CHINESE_LANGUAGES:
        # The spec: pinyin has no effect on non-Chinese audio (Japanese kanji included).
        return segments
    out = chinese.convert_segments(segments, plan.chinese_script)
    if plan.pinyin:
        out = pinyin.annotate_segments(out)
    return [replace(s, index=i) for i, s in enumerate(out)]


def run_standard(
    audio_path: Path,
    engine: Engine,
    options: TranscribeOptions,
    progress: ProgressCallback | None = None,
    checkpoint: Checkpoint = _no_checkpoint,
) -> Attempt:
    """One standard attempt on a file: what the benchmarks time against the engine alone."""
    checkpoint()
    started = time.perf_counter()
    source = AudioInput(audio_path)
    voiced = quality.voice_seconds(source.samples)
    return standard_attempt(
        1, source, engine, options, voiced, progress, time.perf_counter() - started
    )
