"""/api/v1 editing of a finished transcript (an addition to v1): PATCH the lines as a new
revision, DELETE the edits to get the machine's lines back. Free: no credit moves."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from textfromtrack.deps import SessionDep, SettingsDep, WriteCaller
from textfromtrack.jobs import editing, service
from textfromtrack.jobs.models import Job
from textfromtrack.jobs.schemas import JobId, SegmentsOut

router = APIRouter(prefix="/api/v1/transcriptions", tags=["v1"])


class RevisedSegmentsOut(SegmentsOut):
    revision: int


def _out(session: Session, job: Job) -> RevisedSegmentsOut:
    rows = service.stored_segments(session, job)
    return RevisedSegmentsOut(**SegmentsOut.fields_of(job, rows), revision=job.revision)


@router.patch(
    "/{job_id}/segments", response_model=RevisedSegmentsOut, summary="Edit the transcript's lines"
)
def edit_segments(
    job_id: JobId,
    body: editing.SegmentsEdit,
    caller: WriteCaller,
    session: SessionDep,
    settings: SettingsDep,
) -> RevisedSegmentsOut:
    """The whole transcript as it should now read: ``{"segments": [{"start", "end",
    "text"}, ...]}``, in order, not overlapping, within the track's duration. Saved as a
    new revision; every export follows it. 409 unless done, 410 after retention."""
    job = service.get_for_user(session, caller.user.id, job_id)
    return _out(session, editing.save(session, settings, job, body))


@router.delete(
    "/{job_id}/segments/edits",
    response_model=RevisedSegmentsOut,
    summary="Undo every edit (the machine's lines)",
)
def undo_edits(
    job_id: JobId, caller: WriteCaller, session: SessionDep, settings: SettingsDep
) -> RevisedSegmentsOut:
    job = service.get_for_user(session, caller.user.id, job_id)
    return _out(session, editing.restore_original(session, settings, job))
