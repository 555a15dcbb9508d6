"""A worker's side of a job: claim, heartbeat, run the pipeline, finish or fail.

Every state change is a conditional update on (status, worker_id), so a duplicate
delivery, a cancel racing a finish, or a worker presumed dead that wakes up
again can never overwrite another party's decision.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database, updated, utcnow
from textfromtrack.jobs import audio as kept_audio
from textfromtrack.jobs import stages
from textfromtrack.jobs.models import Job, JobSegment, JobStatus
from textfromtrack.media import store
from textfromtrack.metrics import jobs as job_events
from textfromtrack.pipeline import chinese, decide, quality, runner
from textfromtrack.pipeline.engines import select as engine_select
from textfromtrack.pipeline.engines.base import TranscribeOptions
from textfromtrack.pipeline.separation import select as separator_select
from textfromtrack.pipeline.types import Segment, Transcript, Word

log = logging.getLogger(__name__)

FINAL_STATUSES = (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED)
# Writing progress on every segment would make the database the bottleneck.
PROGRESS_MIN_INTERVAL_SECONDS = 1.0


class JobLost(Exception):
    """The job was cancelled, or handed to another worker, while this one worked."""


class HandedOff(Exception):
    """The job's music-mode attempt was handed to the vintage queue (``hand_off``)."""


# Told a job id whose standard attempt is stored and which now waits, pending, for a
# worker of the vintage queue (the Dramatiq worker sends it there). None: this worker
# runs the music-mode attempt itself (the inline default).
HandOff = Callable[[str], None]


def worker_id(tag: str) -> str:
    """host:pid:tag, so a restarted process can tell its dead predecessor's jobs."""
    return f"{socket.gethostname()}:{os.getpid()}:{tag}"


def claim(db: Database, job_id: str, worker: str) -> bool:
    now = utcnow()
    with db.session() as s:
        changed = updated(
            s,
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.PENDING)
            .values(
                status=JobStatus.PROCESSING,
                worker_id=worker,
                heartbeat_at=now,
                started_at=now,
                progress=0.0,
                claims=Job.claims + 1,
            ),
        )
    return bool(changed)


def _owned(job_id: str, worker: str) -> tuple[object, ...]:
    return (Job.id == job_id, Job.status == JobStatus.PROCESSING, Job.worker_id == worker)


def _touch(db: Database, job_id: str, worker: str, **values: object) -> bool:
    with db.session() as s:
        changed = updated(
            s,
            update(Job).where(*_owned(job_id, worker)).values(heartbeat_at=utcnow(), **values),  # type: ignore[arg-type]
        )
    return bool(changed)


class Heartbeat:
    """Refreshes heartbeat_at in the background while the pipeline runs."""

    def __init__(self, db: Database, job_id: str, worker: str, interval: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(db, job_id, worker, interval),
            name=f"heartbeat-{job_id[:8]}",
            daemon=True,
        )

    def _run(self, db: Database, job_id: str, worker: str, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                if not _touch(db, job_id, worker):
                    return
            except Exception:  # a missed beat is retried; the next one may succeed
                log.warning("heartbeat for job %s failed", job_id, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class _Reporter:
    def __init__(self, db: Database, job_id: str, worker: str) -> None:
        self.db, self.job_id, self.worker = db, job_id, worker
        self._last = 0.0

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_MIN_INTERVAL_SECONDS:
            return
        self._last = now
        # Stop short of 1.0: the job is not done until its results are stored.
        if not _touch(
            self.db, self.job_id, self.worker, progress=round(min(max(fraction, 0.0), 0.99), 3)
        ):
            raise JobLost(self.job_id)

    def checkpoint(self) -> None:
        with self.db.session() as s:
            row = s.execute(
                select(Job.status, Job.worker_id).where(Job.id == self.job_id)
            ).one_or_none()
        if row is None or row[0] != JobStatus.PROCESSING or row[1] != self.worker:
            raise JobLost(self.job_id)


def requested_decoding(job: Job) -> dict[str, Any]:
    """What the caller asked of the decoder (OpenAI's prompt, temperature and task).

    OpenAI's temperature 0 means "start at 0 and let the fallback raise it"; so does
    ours. A higher one starts the fallback ladder there instead.
    """
    out: dict[str, Any] = {"task": job.task or "transcribe"}
    if job.prompt:
        out["initial_prompt"] = job.prompt
    if job.temperature:
        ladder = TranscribeOptions().temperature
        out["temperature"] = tuple(t for t in ladder if t >= job.temperature) or (job.temperature,)
    return out


def job_plan(settings: Settings, job: Job) -> runner.JobPlan:
    """Decoding settings per attempt. Why these values: see the lyrics benchmark in the README."""
    requested = requested_decoding(job)
    # Whisper's own re-decoding thresholds, the same on both paths.
    decoder: dict[str, Any] = {
        "compression_ratio_threshold": settings.compression_ratio_threshold,
        "log_prob_threshold": settings.log_prob_threshold,
        "hallucination_silence_threshold": settings.hallucination_silence_threshold or None,
    }
    # Speech: faster-whisper's own voice-detector settings (the shared English clips'
    # WER with them is the reference the speech path must not fall below).
    standard = TranscribeOptions(
        language=job.language_requested,
        vad_threshold=settings.vad_threshold,
        vad_min_silence_ms=settings.vad_min_silence_ms,
        vad_min_speech_ms=settings.vad_min_speech_ms,
        vad_speech_pad_ms=settings.vad_speech_pad_ms,
        **decoder,
        **requested,
    )
    # Music, on the vocal stem. Measured on the shared song (benchmarks/lyrics.py,
    # README): keeping Whisper's own conditioning on the previous window beat turning
    # it off (WER 0.42 vs 0.43-0.48), and without it the temperature fallback fired on
    # most windows, three times slower. Beam search (5) and the fallback stay; beam 1
    # looped (WER 1.39). Sung vowels score lower speech probability than speech, so the
    # threshold is lower; a 1 s silence ends a stretch at instrumental breaks.
    vintage = TranscribeOptions(
        language=job.language_requested,
        vad_threshold=settings.vintage_vad_threshold,
        vad_min_silence_ms=settings.vintage_vad_min_silence_ms,
        vad_min_speech_ms=settings.vintage_vad_min_speech_ms,
        vad_speech_pad_ms=settings.vintage_vad_speech_pad_ms,
        **decoder,
        **requested,
    )
    return runner.JobPlan(
        vintage=job.vintage,
        retry_when_poor=settings.quality_retry,
        standard_options=standard,
        vintage_options=vintage,
        vintage_detector=settings.vintage_voice_detector,
        alignment_detector=settings.alignment_voice_detector,
        vintage_mix_share=settings.vintage_mix_share,
        routing=decide.RoutingRule(
            kept_share=settings.music_kept_share,
            min_voice_seconds=settings.music_min_voice_seconds,
            replace_margin=settings.music_replace_margin,
        ),
        pinyin=job.pinyin,
        chinese_script=chinese.as_script(job.chinese_script),
        lyrics=job.lyrics,
    )


def upload_plan(settings: Settings, chinese_script: str = "simplified") -> runner.JobPlan:
    """The plan of a plain upload (no options given): what the benchmarks run."""
    job = Job(
        language_requested=None,
        vintage=False,
        pinyin=False,
        chinese_script=chinese_script,
        task=None,
        prompt=None,
        temperature=None,
        lyrics=None,
    )
    return job_plan(settings, job)


def engines(settings: Settings) -> runner.Engines:
    return runner.Engines(
        standard=lambda: engine_select.standard_engine(settings),
        vintage=lambda: engine_select.vintage_engine(settings),
        separator=lambda: separator_select.get_separator(settings),
    )


# Runs a claimed job to its end: run_claimed itself, or a stand-in that runs it in
# another process (queue/isolated.py).
RunClaimed = Callable[[Database, Settings, str, str], JobStatus | None]


def process_job(
    db: Database,
    settings: Settings,
    job_id: str,
    worker: str,
    hand_off: HandOff | None = None,
    run: RunClaimed | None = None,
) -> JobStatus | None:
    """Run one job to its end (or, with ``hand_off``, to the hand-off of its music-mode
    attempt). Returns the status it left, or None when it was not ours to run. ``run``
    replaces this process's own ``run_claimed`` (no hand-off then)."""
    if not claim(db, job_id, worker):
        return None
    # Log lines carry the job and its request id; claimed, attempts, done or failed.
    with job_events.running(db, job_id, worker):
        if run is not None:
            return run(db, settings, job_id, worker)
        return run_claimed(db, settings, job_id, worker, hand_off)


def fail_claimed(
    db: Database, settings: Settings, job_id: str, worker: str, message: str
) -> JobStatus | None:
    """Fail a claimed job whose run could not end it (the process running it died):
    error, refund, and its upload and files removed, as run_claimed's own failure does."""
    status = _fail(db, settings, job_id, worker, message)
    with db.session() as s:
        upload_name = s.scalar(select(Job.upload_name).where(Job.id == job_id))
    if upload_name and status in FINAL_STATUSES:
        _drop_upload(db, settings, job_id, store.upload_key(upload_name))
    return status


def run_claimed(
    db: Database, settings: Settings, job_id: str, worker: str, hand_off: HandOff | None = None
) -> JobStatus | None:
    """Run a job this worker has claimed: heartbeat, the attempts, then done or failed."""
    started = time.perf_counter()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        upload = store.upload_key(job.upload_name) if job.upload_name else None
        plan = job_plan(settings, job)
        keep_audio = job.keep_audio
        # A standard job whose first attempt another worker ran and handed off.
        first = stored_first_attempt(s, job)
    reporter = _Reporter(db, job_id, worker)
    live = stages.StageReporter(db, job_id, worker)

    def continue_elsewhere(attempt: runner.Attempt, attempts_log: list[dict[str, Any]]) -> None:
        assert hand_off is not None
        _store_first_attempt(db, job_id, worker, attempt, attempts_log)
        hand_off(job_id)
        raise HandedOff(job_id)

    try:
        with Heartbeat(db, job_id, worker, settings.heartbeat_seconds):
            if upload is None:
                raise FileNotFoundError("the uploaded audio is missing")
            # The data dir's own file, or a local copy of the bucket's object, removed after.
            with store.store_for(settings).local_copy(upload) as audio_file:
                if first is not None:
                    attempt, why = first
                    outcome = runner.resume(
                        audio_file,
                        plan,
                        engines(settings),
                        attempt,
                        why,
                        reporter.progress,
                        reporter.checkpoint,
                        on_stage=live.stage,
                        on_attempt=live.attempts,
                    )
                else:
                    outcome = runner.run(
                        audio_file,
                        plan,
                        engines(settings),
                        reporter.progress,
                        reporter.checkpoint,
                        on_stage=live.stage,
                        on_attempt=live.attempts,
                        continue_elsewhere=continue_elsewhere if hand_off is not None else None,
                    )
                return _finish(
                    db,
                    settings,
                    job_id,
                    worker,
                    outcome,
                    time.perf_counter() - started,
                    audio_file if keep_audio else None,
                )
    except HandedOff:
        log.info("job %s: music-mode attempt handed to the vintage queue", job_id)
        return JobStatus.PENDING
    except (JobLost, stages.StageLost):
        log.info("job %s was cancelled or reassigned while %s ran it", job_id, worker)
        return _current_status(db, job_id)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        return _fail(db, settings, job_id, worker, _user_message(exc))
    finally:
        # A job put back to pending (or taken over) still needs its audio.
        if upload is not None and _current_status(db, job_id) in FINAL_STATUSES:
            _drop_upload(db, settings, job_id, upload)


def _finish(
    db: Database,
    settings: Settings,
    job_id: str,
    worker: str,
    outcome: runner.Outcome,
    runtime: float,
    keep: Path | None = None,
) -> JobStatus | None:
    """The kept audio on disk first (when asked for), then the row, the segments and done.

    Exports are rendered from the segments on request, so nothing else is written.
    """
    transcript = outcome.winner.transcript
    segments = outcome.segments
    try:
        if keep is not None:
            _keep_audio(settings, job_id, keep)
        with db.session() as s:
            changed = updated(
                s,
                update(Job)
                .where(*_owned(job_id, worker))  # type: ignore[arg-type]
                .values(
                    status=JobStatus.DONE,
                    language=transcript.language,
                    model=transcript.model,
                    segment_count=len(segments),
                    attempts=len(outcome.attempts),
                    attempts_log=outcome.attempts_log,
                    degraded=outcome.degraded,
                    vocal_separation_used=outcome.vocal_separation_used,
                    lyrics_anchored=outcome.lyrics["anchored"] if outcome.lyrics else None,
                    progress=1.0,
                    runtime_seconds=round(runtime, 3),
                    completed_at=utcnow(),
                    error=None,
                ),
            )
            if not changed:
                raise JobLost(job_id)
            # A handed-off first attempt's lines were stored for its choice; the
            # winner's replace them.
            s.execute(delete(JobSegment).where(JobSegment.job_id == job_id))
            s.add_all(_segment_rows(job_id, segments))
    except BaseException:
        store.store_for(settings).delete_prefix(store.job_prefix(job_id))
        raise
    return JobStatus.DONE


def _segment_rows(job_id: str, segments: list[Segment]) -> list[JobSegment]:
    return [
        JobSegment(
            job_id=job_id,
            index=seg.index,
            start=round(seg.start, 3),
            end=round(seg.end, 3),
            text=seg.text,
            words=[
                [
                    round(w.start, 3),
                    round(w.end, 3),
                    w.text,
                    None if w.probability is None else round(w.probability, 4),
                ]
                for w in seg.words
            ],
        )
        for seg in segments
    ]


def _store_first_attempt(
    db: Database,
    job_id: str,
    worker: str,
    attempt: runner.Attempt,
    attempts_log: list[dict[str, Any]],
) -> None:
    """Keep the first attempt (its lines as the job's segments, which nobody reads
    before the job is done, and its attempts_log entry) and put the job back to
    pending for the vintage queue, in one conditional update: a job cancelled
    meanwhile is not touched. The claim it used does not count against the job's
    attempts: it was not a failure."""
    with db.session() as s:
        changed = updated(
            s,
            update(Job)
            .where(*_owned(job_id, worker))  # type: ignore[arg-type]
            .values(
                status=JobStatus.PENDING,
                worker_id=None,
                stage=runner.RETRYING,
                progress=runner.MUSIC_SHARE,
                attempts=len(attempts_log),
                attempts_log=attempts_log,
                claims=Job.claims - 1,
            ),
        )
        if not changed:
            raise JobLost(job_id)
        s.execute(delete(JobSegment).where(JobSegment.job_id == job_id))
        s.add_all(_segment_rows(job_id, attempt.segments))


def stored_first_attempt(s: Any, job: Job) -> tuple[runner.Attempt, str] | None:
    """The handed-off first attempt of ``job`` and the decision taken on it, rebuilt
    from its attempts_log entry (marked ``handed_off``, which survives a vintage
    worker's death) and its stored lines; None for a job that has none."""
    if not stages.is_handed_off(job.vintage, job.status, job.attempts_log):
        return None
    rows = list(
        s.scalars(select(JobSegment).where(JobSegment.job_id == job.id).order_by(JobSegment.index))
    )
    entry = (job.attempts_log or [])[0]
    q = entry.get("quality") or {}
    report = quality.QualityReport(
        score=float(q.get("score", 0.0)),
        poor=bool(q.get("poor", False)),
        reasons=tuple(q.get("reasons", ())),
        metrics={k: float(v) for k, v in (q.get("metrics") or {}).items()},
    )
    transcript = Transcript(
        language=str(entry.get("language") or "en"),
        language_probability=0.0,
        duration_seconds=float(job.duration_seconds or 0.0),
        segments=(),
        model=str(entry.get("model") or ""),
        engine=str(entry.get("engine") or ""),
    )
    segments = [
        Segment(
            index=row.index,
            start=row.start,
            end=row.end,
            text=row.text,
            words=tuple(Word(*w) for w in (row.words or ())),
        )
        for row in rows
    ]
    attempt = runner.Attempt(
        handed_off=True,
        number=int(entry.get("attempt", 1)),
        pipeline="standard",
        transcript=transcript,
        segments=segments,
        seconds=float(entry.get("seconds", 0.0)),
        separator=None,
        report=report,
        stages={k: float(v) for k, v in (entry.get("stages") or {}).items()},
    )
    return attempt, str(entry.get("why") or "")


def _keep_audio(settings: Settings, job_id: str, upload: Path) -> None:
    """Keep the audio for playback; failing that costs the player, never the transcript."""
    try:
        kept_audio.keep(store.store_for(settings), job_id, upload)
    except Exception:
        log.warning("job %s: the audio could not be kept for playback", job_id, exc_info=True)


def _fail(
    db: Database, settings: Settings, job_id: str, worker: str, message: str
) -> JobStatus | None:
    with db.session() as s:
        changed = updated(
            s,
            update(Job)
            .where(*_owned(job_id, worker))  # type: ignore[arg-type]
            .values(status=JobStatus.ERROR, error=message, completed_at=utcnow()),
        )
        if changed:
            credits.refund_for_job(s, job_id)
            # A handed-off first attempt's lines, if any: a failed job has none.
            s.execute(delete(JobSegment).where(JobSegment.job_id == job_id))
    if changed:
        # Whatever the failed run left in the job's folder (a half-kept audio copy) goes.
        store.store_for(settings).delete_prefix(store.job_prefix(job_id))
    return _current_status(db, job_id)


def _user_message(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return (
            "Transcription failed: the uploaded audio is no longer available. "
            "Your credit was refunded."
        )
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"Transcription failed: {detail}. Your credit was refunded."


def _current_status(db: Database, job_id: str) -> JobStatus | None:
    with db.session() as s:
        return s.scalar(select(Job.status).where(Job.id == job_id))


def _drop_upload(db: Database, settings: Settings, job_id: str, upload: str) -> None:
    store.store_for(settings).delete(upload)
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(upload_name=None))
