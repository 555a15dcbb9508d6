from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field

from textfromtrack.jobs.models import Job, JobSegment, JobStatus
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
    stage: str | None = Field(
        default=None,
        description="While processing: decoding, recognising, separating, retrying "
        "(the automatic retry in music mode begins) or postprocessing; null otherwise.",
    )
    revision: int = Field(
        default=0, description="Saved edits of the transcript; 0 is the machine's lines."
    )
    lyrics_anchored: float | None = Field(
        default=None,
        description="Submitted with lyrics, once done: the share (0..1) of the lyrics' "
        "words anchored to words heard in the audio; the others are timed between their "
        "neighbours. null without lyrics.",
    )

    @classmethod
    def fields_of(
        cls, facts: Mapping[str, Any], credits_charged: int, retention_days: float
    ) -> dict[str, Any]:
        """The summary's fields from a job's facts (``jobs.service.SHOWN`` by name)."""
        completed = facts["completed_at"]
        done = facts["status"] == JobStatus.DONE
        return {
            "job_id": facts["id"],
            "status": facts["status"],
            "filename": facts["filename"],
            "language": facts["language"],
            "duration_seconds": round(facts["duration_seconds"], 3),
            "segment_count": facts["segment_count"],
            "credits_charged": credits_charged,
            "model": facts["model"],
            "degraded": facts["degraded"],
            "vocal_separation_used": facts["vocal_separation_used"],
            "attempts": facts["attempts"],
            "runtime_seconds": facts["runtime_seconds"],
            "created_at": facts["created_at"],
            "completed_at": completed,
            "vintage_mode": facts["vintage"],
            "pinyin": facts["pinyin"],
            "chinese_script": facts["chinese_script"],
            "progress": facts["progress"],
            "error": facts["error"],
            "stage": facts.get("stage") if facts["status"] == JobStatus.PROCESSING else None,
            "revision": facts.get("revision") or 0,
            "lyrics_anchored": facts.get("lyrics_anchored"),
            "exports_expire_at": (
                completed + timedelta(days=retention_days) if done and completed else None
            ),
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

    @classmethod
    def fields_of(cls, job: Job, rows: Sequence[JobSegment]) -> dict[str, Any]:
        """The fields of a job's lines (``rows`` in order), for this shape and its kin."""
        return {
            "job_id": job.id,
            "language": job.language,
            "duration_seconds": round(job.duration_seconds, 3),
            "segments": [
                SegmentOut(index=r.index, start=r.start, end=r.end, text=r.text) for r in rows
            ],
        }
