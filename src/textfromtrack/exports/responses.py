"""The download response for an export, shared by the API and the web app."""

from __future__ import annotations

from fastapi.responses import FileResponse

from textfromtrack.config import Settings
from textfromtrack.errors import ValidationFailed
from textfromtrack.exports import formats
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job


def export_response(settings: Settings, job: Job, requested: str) -> FileResponse:
    """The job's export in ``requested`` format: 400 for an unknown format (checked
    first, whatever the job's state), then 409/410 from the job's state."""
    fmt = requested.lower()
    if fmt not in formats.FORMATS:
        raise ValidationFailed(
            f"Unknown format {requested!r}; choose one of {', '.join(formats.FORMATS)}.",
            details={"fields": {"format": f"one of {', '.join(formats.FORMATS)}"}},
        )
    path = service.export_file(settings, job, fmt)
    return FileResponse(
        path,
        media_type=formats.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": formats.content_disposition(job.filename, fmt)},
    )
