from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from textfromtrack import intake
from textfromtrack.config import Settings
from textfromtrack.deps import (
    ClientIp,
    DatabaseDep,
    DispatcherDep,
    ReadContext,
    SessionDep,
    SettingsDep,
    UploadSlotsDep,
    WriteCaller,
    in_connection,
    in_session,
)
from textfromtrack.exports import formats
from textfromtrack.exports.responses import export_response
from textfromtrack.intake import ReceivedUpload
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job, JobStatus
from textfromtrack.jobs.schemas import (
    JobList,
    JobOut,
    JobSummary,
    SegmentsOut,
    SubmitOut,
)
from textfromtrack.responses import ModelResponse

router = APIRouter(prefix="/api/v1/transcriptions", tags=["v1"])


def _detail(session: Session, settings: Settings, job: Job) -> JobOut:
    fields = JobSummary.fields_of(
        service.facts_of(job),
        service.credits_charged(session, [job])[job.id],
        settings.export_retention_days,
    )
    return JobOut(**fields, attempts_log=job.attempts_log or [])


def _shown(facts: dict[str, Any], settings: Settings) -> dict[str, Any]:
    charged = facts["credits_quoted"] if facts["charged"] else 0
    return JobSummary.fields_of(facts, charged, settings.export_retention_days)


def _options(received: ReceivedUpload) -> service.SubmitOptions:
    return service.normalise_options(
        received.flag("pinyin"),
        received.flag("vintage"),
        received.text("language"),
        received.text("chinese_script"),
        lyrics=received.text("lyrics"),
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=SubmitOut, summary="Submit audio file"
)
async def submit(
    request: Request,
    caller: WriteCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    slots: UploadSlotsDep,
    ip: ClientIp,
) -> SubmitOut:
    """Multipart ``file`` (.mp3, .wav, .flac and other common audio; max 100 MB, 10 min)
    plus ``pinyin``, ``vintage``, ``language`` (ISO 639-1), ``chinese_script`` and
    ``lyrics`` (the words, when known: they are aligned to the audio, not transcribed).

    The body is read here rather than by FastAPI so that it is read only after the
    caller is known, within the upload limits, and with no database connection held.
    """
    job = await intake.accept(request, db, settings, dispatcher, slots, caller.user, ip, _options)
    return SubmitOut(
        job_id=job.id,
        status=job.status,
        credits_quoted=job.credits_quoted,
        duration_seconds=round(job.duration_seconds, 3),
        vintage_mode=job.vintage,
    )


@router.get("", response_model=JobList, summary="List your jobs (paginated)")
async def list_jobs(
    ctx: ReadContext,
    page: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = 50,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
) -> Response:
    def read(connection: Connection) -> Response:
        total, jobs = service.shown_page(connection, ctx.user_id, page, per_page, status_filter)
        listed = {"page": page, "per_page": per_page, "total": total}
        shown = [_shown(facts, ctx.settings) for facts in jobs]
        return ModelResponse(JobList.model_validate({**listed, "transcriptions": shown}))

    return await in_connection(ctx.db, read)


@router.get("/{job_id}", response_model=JobOut, summary="Poll status + metadata")
async def get_job(job_id: str, ctx: ReadContext) -> Response:
    def read(connection: Connection) -> Response:
        facts = service.shown_job(connection, ctx.user_id, job_id)
        fields = {**_shown(facts, ctx.settings), "attempts_log": facts["attempts_log"] or []}
        return ModelResponse(JobOut.model_validate(fields))

    return await in_connection(ctx.db, read)


@router.get("/{job_id}/segments", response_model=SegmentsOut, summary="Timestamped segments (JSON)")
async def get_segments(job_id: str, ctx: ReadContext) -> SegmentsOut:
    def read(session: Session) -> SegmentsOut:
        job = service.get_for_user(session, ctx.user_id, job_id)
        return SegmentsOut(
            **SegmentsOut.fields_of(job, service.segments_of(session, ctx.settings, job))
        )

    return await in_session(ctx.db, read)


@router.get(
    "/{job_id}/export",
    response_class=Response,
    summary="Download TXT / SRT / LRC / JSON / VTT",
    responses={200: {"content": {t.split(";")[0]: {} for t in formats.MEDIA_TYPES.values()}}},
)
async def export(
    job_id: str,
    ctx: ReadContext,
    format: Annotated[
        str, Query(description="txt, srt, lrc, json or vtt", min_length=1, max_length=16)
    ] = "txt",
    words: Annotated[
        bool,
        Query(description="With format=lrc: enhanced LRC, each word with its own time."),
    ] = False,
) -> Response:
    def read(session: Session) -> Response:
        job = service.get_for_user(session, ctx.user_id, job_id)
        return export_response(session, ctx.settings, job, format, words=words)

    return await in_session(ctx.db, read)


@router.delete("/{job_id}", response_model=JobOut, summary="Cancel or delete a job")
def cancel(job_id: str, caller: WriteCaller, session: SessionDep, settings: SettingsDep) -> JobOut:
    job = service.get_for_user(session, caller.user.id, job_id)
    return _detail(session, settings, service.cancel(session, settings, job))
