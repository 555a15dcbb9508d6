from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import FileResponse

from textfromtrack.deps import (
    ClientIp,
    DispatcherDep,
    ReadCaller,
    SessionDep,
    SettingsDep,
    WriteCaller,
)
from textfromtrack.exports import formats
from textfromtrack.exports.responses import export_response
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job, JobStatus
from textfromtrack.jobs.schemas import (
    JobList,
    JobOut,
    JobSummary,
    SegmentOut,
    SegmentsOut,
    SubmitOut,
)

router = APIRouter(prefix="/api/v1/transcriptions", tags=["v1"])


def _detail(session: SessionDep, settings: SettingsDep, job: Job) -> JobOut:
    fields = JobSummary.fields_of(
        job, service.credits_charged(session, [job])[job.id], settings.export_retention_days
    )
    return JobOut(**fields, attempts_log=job.attempts_log or [])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=SubmitOut, summary="Submit audio file"
)
def submit(
    caller: WriteCaller,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    ip: ClientIp,
    file: Annotated[
        UploadFile,
        File(description=".mp3, .wav, .flac (and other common audio) · max 100 MB · max 10 min"),
    ],
    pinyin: Annotated[bool, Form(description="Annotate Chinese text with pinyin.")] = False,
    vintage: Annotated[bool, Form(description="Music / high-quality mode.")] = False,
    language: Annotated[str | None, Form(description="ISO 639-1 code; skips detection.")] = None,
    chinese_script: Annotated[
        str | None,
        Form(description="For Chinese: simplified (default), traditional, or original."),
    ] = None,
) -> SubmitOut:
    options = service.normalise_options(pinyin, vintage, language, chinese_script)
    job = service.submit(
        session, settings, caller.user, file.file, file.filename or "", options, ip, dispatcher
    )
    return SubmitOut(
        job_id=job.id,
        status=job.status.value,
        credits_quoted=job.credits_quoted,
        duration_seconds=round(job.duration_seconds, 3),
        vintage_mode=job.vintage,
    )


@router.get("", response_model=JobList, summary="List your jobs (paginated)")
def list_jobs(
    caller: ReadCaller,
    session: SessionDep,
    settings: SettingsDep,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = 50,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
) -> JobList:
    total, jobs = service.list_for_user(session, caller.user.id, page, per_page, status_filter)
    charged = service.credits_charged(session, jobs)
    return JobList(
        page=page,
        per_page=per_page,
        total=total,
        transcriptions=[
            JobSummary(**JobSummary.fields_of(j, charged[j.id], settings.export_retention_days))
            for j in jobs
        ],
    )


@router.get("/{job_id}", response_model=JobOut, summary="Poll status + metadata")
def get_job(job_id: str, caller: ReadCaller, session: SessionDep, settings: SettingsDep) -> JobOut:
    return _detail(session, settings, service.get_for_user(session, caller.user.id, job_id))


@router.get("/{job_id}/segments", response_model=SegmentsOut, summary="Timestamped segments (JSON)")
def get_segments(job_id: str, caller: ReadCaller, session: SessionDep) -> SegmentsOut:
    job = service.get_for_user(session, caller.user.id, job_id)
    rows = service.segments_of(session, job)
    return SegmentsOut(
        job_id=job.id,
        language=job.language,
        duration_seconds=round(job.duration_seconds, 3),
        segments=[SegmentOut(index=r.index, start=r.start, end=r.end, text=r.text) for r in rows],
    )


@router.get(
    "/{job_id}/export",
    response_class=FileResponse,
    summary="Download TXT / SRT / LRC / JSON / VTT",
    responses={200: {"content": {t.split(";")[0]: {} for t in formats.MEDIA_TYPES.values()}}},
)
def export(
    job_id: str,
    caller: ReadCaller,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[str, Query(description="txt, srt, lrc, json or vtt")] = "txt",
) -> FileResponse:
    job = service.get_for_user(session, caller.user.id, job_id)
    return export_response(settings, job, format)


@router.delete("/{job_id}", response_model=JobOut, summary="Cancel or delete a job")
def cancel(job_id: str, caller: WriteCaller, session: SessionDep, settings: SettingsDep) -> JobOut:
    job = service.get_for_user(session, caller.user.id, job_id)
    return _detail(session, settings, service.cancel(session, settings, job))
