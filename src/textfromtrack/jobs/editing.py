"""Editing a finished transcript: save the lines as a new revision, or undo to the machine's.

Exports are rendered from the stored segments on request, so every export follows
the latest revision with nothing else to update. The machine's own lines are kept
on the job (``original_segments``) from the first edit on, so undo always restores
exactly what the recogniser produced. Editing is free: no credit moves.

Word timings are kept for an edited line only when its words still spell it (a
split or merge at a word boundary, a nudged time that still holds the words); a
line whose text was changed loses them rather than carry timings that disagree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete
from sqlalchemy.orm import Session

from textfromtrack.config import Settings
from textfromtrack.db import begin_write
from textfromtrack.errors import ValidationFailed
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job, JobSegment

MAX_SEGMENTS = 5000
MAX_TEXT = 2000
# Times are stored to the millisecond; a client's rounding must not read as an overlap.
TOLERANCE = 0.0015
# The job's duration is measured by decoding and rounded; the last line may end a bit past it.
DURATION_SLACK = 0.05


class SegmentEdit(BaseModel):
    # ``index`` and ``words`` of a line read from GET .../segments are ignored, so a
    # client can send back what it read with its changes.
    model_config = ConfigDict(extra="ignore")

    start: float = Field(ge=0, allow_inf_nan=False)
    end: float = Field(ge=0, allow_inf_nan=False)
    text: str = Field(max_length=MAX_TEXT)


class SegmentsEdit(BaseModel):
    """The whole transcript as it should now read, in order."""

    segments: list[SegmentEdit] = Field(min_length=1, max_length=MAX_SEGMENTS)


def check(edits: Sequence[SegmentEdit], duration: float) -> None:
    """Ordered, non-overlapping lines with text, within the track: else 400 with each
    offending field named (``segments.3.start``)."""
    problems: dict[str, str] = {}
    previous_end = 0.0
    for n, seg in enumerate(edits):
        where = f"segments.{n}"
        if not " ".join(seg.text.split()):
            problems[f"{where}.text"] = "a line needs some text (delete the line instead)"
        if seg.end <= seg.start:
            problems[f"{where}.end"] = f"must be after the line's start ({seg.start:g} s)"
        if seg.end > duration + DURATION_SLACK:
            problems[f"{where}.end"] = f"must be within the track ({duration:g} s)"
        if seg.start < previous_end - TOLERANCE:
            problems[f"{where}.start"] = (
                f"overlaps the line before, which ends at {previous_end:g} s; "
                "lines must be in order and must not overlap"
            )
        previous_end = max(previous_end, seg.end)
    if problems:
        first = next(iter(problems))
        raise ValidationFailed(
            f"The edited lines are not valid: {first} {problems[first]}.",
            details={"fields": problems},
        )


_PINYIN = re.compile(r"\[[^\]]*\]")


def _spelling(text: str) -> str:
    """What a line's words must spell: the text without pinyin brackets or spaces."""
    return re.sub(r"\s+", "", _PINYIN.sub("", text))


def _words_for(text: str, start: float, end: float, words: list[list[Any]]) -> list[list[Any]]:
    inside = [
        w
        for w in words
        if float(w[0]) >= start - TOLERANCE * 10 and float(w[1]) <= end + TOLERANCE * 10
    ]
    if inside and "".join(str(w[2]) for w in inside).replace(" ", "") == _spelling(text):
        return inside
    return []


def _as_rows(segments: Sequence[JobSegment]) -> list[list[Any]]:
    return [[s.start, s.end, s.text, s.words or []] for s in segments]


def _replace(session: Session, job: Job, rows: list[list[Any]]) -> None:
    session.execute(delete(JobSegment).where(JobSegment.job_id == job.id))
    session.add_all(
        JobSegment(job_id=job.id, index=n, start=r[0], end=r[1], text=r[2], words=r[3])
        for n, r in enumerate(rows)
    )
    job.segment_count = len(rows)


def _current(session: Session, settings: Settings, job: Job) -> list[JobSegment]:
    # 409 unless done, 410 after retention: the same rule as reading the segments.
    return service.segments_of(session, settings, job)


def save(session: Session, settings: Settings, job: Job, edit: SegmentsEdit) -> Job:
    """The lines as a new revision; the machine's are kept on the first edit."""
    begin_write(session)
    session.refresh(job)
    current = _current(session, settings, job)
    check(edit.segments, job.duration_seconds)
    if job.original_segments is None:
        job.original_segments = _as_rows(current)
    words = sorted((w for s in current for w in (s.words or [])), key=lambda w: float(w[0]))
    rows = []
    for seg in edit.segments:
        text = " ".join(seg.text.split())
        start, end = round(seg.start, 3), round(min(seg.end, job.duration_seconds), 3)
        if end <= start:  # a line ending in the duration's slack keeps its own end
            end = round(seg.end, 3)
        rows.append([start, end, text, _words_for(text, start, end, words)])
    _replace(session, job, rows)
    job.revision += 1
    session.flush()
    return job


def restore_original(session: Session, settings: Settings, job: Job) -> Job:
    """Undo every edit: the machine's lines, revision 0. A no-op on an unedited job."""
    begin_write(session)
    session.refresh(job)
    _current(session, settings, job)
    if job.original_segments is not None:
        _replace(session, job, [list(r) for r in job.original_segments])
        job.original_segments = None
        job.revision = 0
        session.flush()
    return job
