from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from textfromtrack.jobs.models import Job, JobStatus
from textfromtrack.pipeline.chinese import ChineseScript
from textfromtrack.timestamps import Timestamp

# Ids are uuid4 strings; the format tells clients (and schema-driven tests) their shape.
JobId = Annotated[str, Field(json_schema_extra={"format": "uuid"})]


class SubmitOut(BaseModel):
    job_id: JobId
    status: JobStatus
    credits_quoted: int
    duration_seconds: float
    vintage_mode: bool


class JobSummary(BaseModel):
    """The slim shape used in listings (no attempts_log)."""

    job_id: JobId
    status: JobStatus = Field(
        description="pending → processing → done | error; cancelled after DELETE. "
        "done, error and cancelled are final."
    )
    filename: str
    language: str | None
    duration_seconds: float
    segment_count: int | None
    credits_charged: int
    model: str | None
    degraded: bool
    vocal_separation_used: bool
    attempts: int
    runtime_seconds: float | None
    created_at: Timestamp
    completed_at: Timestamp | None
    vintage_mode: bool
    pinyin: bool
    chinese_script: ChineseScript
    progress: float = Field(description="0..1; meaningful while processing, 1 when done.")
    error: str | None = None
    exports_expire_at: Timestamp | None = None

    @classmethod
    def fields_of(cls, job: Job, credits_charged: int, retention_days: float) -> dict[str, Any]:
        from datetime import timedelta

        expires = (
            job.completed_at + timedelta(days=retention_days)
            if job.completed_at is not None and job.status == "done"
            else None
        )
        return {
            "job_id": job.id,
            "status": job.status.value,
            "filename": job.filename,
            "language": job.language,
            "duration_seconds": round(job.duration_seconds, 3),
            "segment_count": job.segment_count,
            "credits_charged": credits_charged,
            "model": job.model,
            "degraded": job.degraded,
            "vocal_separation_used": job.vocal_separation_used,
            "attempts": job.attempts,
            "runtime_seconds": job.runtime_seconds,
            "created_at": job.created_at,
            "completed_at": job.completed_at,
            "vintage_mode": job.vintage,
            "pinyin": job.pinyin,
            "chinese_script": job.chinese_script,
            "progress": job.progress,
            "error": job.error,
            "exports_expire_at": expires,
        }


class JobOut(JobSummary):
    attempts_log: list[dict[str, Any]]


class JobList(BaseModel):
    page: int
    per_page: int
    total: int
    transcriptions: list[JobSummary]


class SegmentOut(BaseModel):
    index: int
    start: float
    end: float
    text: str


class SegmentsOut(BaseModel):
    job_id: JobId
    language: str | None
    duration_seconds: float
    segments: list[SegmentOut]
