"""A job's events as log lines and metrics, at the two points a worker sees: the claim
and the end of its run. What happened in between is read back from the row the run
wrote (attempts_log with each attempt's stages), so the pipeline knows nothing of this.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import select

from textfromtrack import logs, metrics
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job, JobStatus
from textfromtrack.pipeline.runner import STAGES

log = logging.getLogger("textfromtrack.jobs.events")

PIPELINES: Final = ("standard", "vintage")


def _mode(vintage: bool) -> str:
    return "vintage" if vintage else "standard"


@contextmanager
def running(db: Database, job_id: str, worker: str) -> Iterator[None]:
    """Around the run of a job ``worker`` has just claimed: binds the job and the request
    that submitted it to every log line, logs ``claimed``, and at the end each attempt
    and ``done`` or ``failed``, observing the job metrics once."""
    with db.session() as s:
        row = s.execute(select(Job.request_id, Job.claims).where(Job.id == job_id)).one_or_none()
    request_id, claims = (row[0], row[1]) if row is not None else (None, 0)
    with logs.job_context(job_id, request_id):
        metrics.JOBS_CLAIMED.inc()
        logs.job_event(
            log,
            "claimed",
            job_id,
            "claimed by %s (claim %d)",
            worker,
            claims,
            worker=worker,
            claim=claims,
        )
        try:
            yield
        finally:
            try:
                ended(db, job_id, worker)
            except Exception:  # a metric or a line lost never costs the job
                log.warning("job %s: could not record how it ended", job_id, exc_info=True)


def ended(db: Database, job_id: str, worker: str) -> None:
    with db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            logs.job_event(log, "deleted", job_id, "was deleted while it ran")
            return
        if job.worker_id != worker or job.status in (JobStatus.PENDING, JobStatus.PROCESSING):
            # Put back (a stale claim) or taken over: its end is another worker's to tell.
            logs.job_event(
                log,
                "released",
                job_id,
                "released by %s (now %s)",
                worker,
                job.status.value,
                worker=worker,
                status=job.status.value,
            )
            return
        mode = _mode(job.vintage)
        if job.status == JobStatus.DONE:
            _attempts(job_id, job.attempts_log or [])
            _done(job, mode)
        elif job.status == JobStatus.ERROR:
            metrics.JOBS_FINISHED.labels("error", mode).inc()
            logs.job_event(
                log,
                "failed",
                job_id,
                "failed: %s",
                job.error,
                level=logging.WARNING,
                status="error",
                error=job.error,
            )
        else:
            metrics.JOBS_FINISHED.labels(job.status.value, mode).inc()
            logs.job_event(
                log,
                job.status.value,
                job_id,
                "ended %s while it ran",
                job.status.value,
                status=job.status.value,
            )


def _attempts(job_id: str, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        pipeline = entry.get("pipeline") if entry.get("pipeline") in PIPELINES else "standard"
        verdict = "accepted" if entry.get("verdict") == "accepted" else "rejected"
        quality = entry.get("quality") or {}
        poor = bool(quality.get("poor"))
        seconds = float(entry.get("seconds") or 0.0)
        stages = {k: float(v) for k, v in (entry.get("stages") or {}).items() if k in STAGES}
        metrics.ATTEMPTS.labels(pipeline, verdict, "poor" if poor else "ok").inc()
        metrics.ATTEMPT_DURATION.labels(pipeline).observe(seconds)
        for stage, value in stages.items():
            metrics.STAGE_DURATION.labels(stage, pipeline).observe(value)
        logs.job_event(
            log,
            "attempt",
            job_id,
            "attempt %s (%s, model %s) took %.2f s: %s%s",
            entry.get("attempt"),
            pipeline,
            entry.get("model"),
            seconds,
            verdict,
            ", judged poor" if poor else "",
            attempt=entry.get("attempt"),
            pipeline=pipeline,
            engine=entry.get("engine"),
            model=entry.get("model"),
            separator=entry.get("separator"),
            seconds=seconds,
            stages=stages,
            verdict=verdict,
            poor=poor,
            reasons=list(quality.get("reasons") or []),
        )


def _done(job: Job, mode: str) -> None:
    runtime = float(job.runtime_seconds or 0.0)
    audio = float(job.duration_seconds or 0.0)
    rtf = runtime / audio if audio > 0 else None
    turnaround = (
        (job.completed_at - job.created_at).total_seconds()
        if job.completed_at is not None and job.created_at is not None
        else None
    )
    metrics.JOBS_FINISHED.labels("done", mode).inc()
    metrics.JOB_DURATION.labels(mode).observe(runtime)
    metrics.JOB_AUDIO.labels(mode).inc(audio)
    if rtf is not None:
        metrics.JOB_REAL_TIME_FACTOR.labels(mode).observe(rtf)
    if turnaround is not None:
        metrics.JOB_TURNAROUND.labels(mode).observe(max(turnaround, 0.0))
    if job.degraded:
        metrics.JOBS_DEGRADED.labels(mode).inc()
    logs.job_event(
        log,
        "done",
        job.id,
        "done in %.2f s (%.1f s of audio, model %s, %d attempt(s)%s)",
        runtime,
        audio,
        job.model,
        job.attempts,
        ", degraded" if job.degraded else "",
        status="done",
        model=job.model,
        seconds=runtime,
        audio_seconds=audio,
        real_time_factor=round(rtf, 4) if rtf is not None else None,
        turnaround_seconds=round(turnaround, 3) if turnaround is not None else None,
        attempts=job.attempts,
        degraded=job.degraded,
        mode=mode,
    )
