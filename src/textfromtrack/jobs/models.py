from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from textfromtrack.db import Base, IdMixin, utcnow
from textfromtrack.logs import current_request_id


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)


class Job(IdMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_created_id", "user_id", "created_at", "id"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_client_ip_status", "client_ip", "status"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[JobStatus] = mapped_column(
        Enum(
            JobStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        ),
        default=JobStatus.PENDING,
    )
    # The user's name for the file, kept only as metadata; never used as a path.
    filename: Mapped[str] = mapped_column(String(255))
    # Generated name of the stored upload inside the uploads folder; None once deleted.
    upload_name: Mapped[str | None] = mapped_column(String(64), default=None)
    client_ip: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[float] = mapped_column(Float)
    credits_quoted: Mapped[int] = mapped_column(Integer, default=1)

    # Options as submitted.
    language_requested: Mapped[str | None] = mapped_column(String(16), default=None)
    pinyin: Mapped[bool] = mapped_column(Boolean, default=False)
    vintage: Mapped[bool] = mapped_column(Boolean, default=False)
    # simplified | traditional | original: the script Chinese transcripts are written in.
    chinese_script: Mapped[str] = mapped_column(
        String(16), default="simplified", server_default="simplified"
    )
    # Keep the uploaded audio (beside the exports, until the retention sweep) so the
    # web app can play it back and retry it in music mode.
    keep_audio: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Decoding requests (the OpenAI-compatible surface): context text for the first
    # window, one fixed temperature instead of the fallback ladder, and Whisper's task.
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    temperature: Mapped[float | None] = mapped_column(Float, default=None)
    task: Mapped[str] = mapped_column(String(16), default="transcribe", server_default="transcribe")
    # The user's own lyrics (line breaks as LF), aligned to the audio instead of the
    # transcript's words; deferred, since only the worker reads it.
    lyrics: Mapped[str | None] = mapped_column(Text, default=None, deferred=True)
    # The request that submitted the job (its X-Request-ID, bound by logs.py while the
    # request is served), so the worker's log lines carry it too.
    request_id: Mapped[str | None] = mapped_column(String(64), default=current_request_id)

    # Outcome.
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    model: Mapped[str | None] = mapped_column(String(100), default=None)
    segment_count: Mapped[int | None] = mapped_column(Integer, default=None)
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    vocal_separation_used: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempts_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # What the pipeline is doing now (one of jobs.stages.STAGES); None before and after.
    stage: Mapped[str | None] = mapped_column(String(32), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    runtime_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    # With lyrics: the share of their words anchored to words heard in the audio.
    lyrics_anchored: Mapped[float | None] = mapped_column(Float, default=None)
    # Saved edits of the transcript: 0 is the machine's lines. From the first edit on,
    # ``original_segments`` holds the machine's lines ([start, end, text, words] each) so
    # that undo can restore them; deferred, since only editing reads it.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    original_segments: Mapped[list[list[Any]] | None] = mapped_column(
        JSON, default=None, deferred=True
    )

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set by the retention sweep; from then on segments and exports answer 410.
    purged_at: Mapped[datetime | None] = mapped_column(default=None)

    # Worker bookkeeping: who holds the job, when it last proved alive, how often it was claimed.
    worker_id: Mapped[str | None] = mapped_column(String(100), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    claims: Mapped[int] = mapped_column(Integer, default=0)


class JobSegment(Base):
    __tablename__ = "job_segments"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column("idx", Integer, primary_key=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    # [[start, end, text, probability], ...]: kept for karaoke timing and later features.
    words: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
