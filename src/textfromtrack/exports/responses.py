"""The download response for an export, shared by the API and the web app.

Exports are rendered on request from the stored segments (pure functions in
``formats``): nothing but segments is stored, a format added later works for old
jobs, and an edited transcript can never disagree with a file written earlier.
"""

from __future__ import annotations

from fastapi import Response
from sqlalchemy.orm import Session

from textfromtrack.config import Settings
from textfromtrack.errors import ValidationFailed
from textfromtrack.exports import formats
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job, JobSegment
from textfromtrack.pipeline.types import Segment, Word


def check_format(requested: str) -> str:
    fmt = requested.lower()
    if fmt not in formats.FORMATS:
        raise ValidationFailed(
            f"Unknown format {requested!r}; choose one of {', '.join(formats.FORMATS)}.",
            details={"fields": {"format": f"one of {', '.join(formats.FORMATS)}"}},
        )
    return fmt


def as_segment(row: JobSegment) -> Segment:
    return Segment(
        index=row.index,
        start=row.start,
        end=row.end,
        text=row.text,
        words=tuple(
            Word(
                start=float(w[0]),
                end=float(w[1]),
                text=str(w[2]),
                # null: the engine gave no word probability (a remote OpenAI-compatible one).
                probability=None if w[3] is None else float(w[3]),
            )
            for w in (row.words or [])
        ),
    )


def export_response(
    session: Session, settings: Settings, job: Job, requested: str, *, words: bool = False
) -> Response:
    """The job's export in ``requested`` format: 400 for an unknown format (checked
    first, whatever the job's state), then 409/410 from the job's state."""
    fmt = check_format(requested)
    rows = service.segments_of(session, settings, job)
    meta = formats.ExportMeta(job.id, job.filename, job.language, job.duration_seconds)
    body = formats.render(fmt, [as_segment(r) for r in rows], meta, words=words)
    return Response(
        body.encode("utf-8"),
        media_type=formats.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": formats.content_disposition(job.filename, fmt),
            "Cache-Control": "private, no-cache",
        },
    )
