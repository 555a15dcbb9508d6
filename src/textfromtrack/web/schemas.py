from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from textfromtrack.jobs.schemas import JobId, JobOut


class WebJob(JobOut):
    """The API's job detail plus what the app shows around it."""

    keep_audio: bool
    audio_available: bool
    language_requested: str | None


class WebJobList(BaseModel):
    page: int
    per_page: int
    total: int
    active: int
    jobs: list[WebJob]


class WebWord(BaseModel):
    start: float
    end: float
    text: str


class WebSegment(BaseModel):
    index: int
    start: float
    end: float
    text: str
    words: list[WebWord]


class WebSegments(BaseModel):
    job_id: JobId
    language: str | None
    duration_seconds: float
    segments: list[WebSegment]


class WebAccount(BaseModel):
    email: str
    credit_balance: int
    top_up_url: str


def words_of(raw: list[list[Any]]) -> list[WebWord]:
    """Stored words are [start, end, text, probability]; the app needs the first three."""
    return [WebWord(start=w[0], end=w[1], text=str(w[2])) for w in raw if len(w) >= 3]
