"""/api/web/*: the app's own JSON endpoints.

Web session only (the cookie, checked for CSRF in deps.optional_web_caller, or the
session JWT as a Bearer header), never a personal access token. Each handler calls
the same services as /api/v1, so the app's jobs get the same admission, limits,
credits, quality check and vintage retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from textfromtrack import intake
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database
from textfromtrack.deps import (
    ClientIp,
    CurrentWebCaller,
    DatabaseDep,
    DispatcherDep,
    SessionDep,
    SettingsDep,
    UploadSlotsDep,
    in_connection,
    in_session,
)
from textfromtrack.errors import NotFound
from textfromtrack.exports.responses import export_response
from textfromtrack.intake import ReceivedUpload
from textfromtrack.jobs import audio as kept_audio
from textfromtrack.jobs import editing, events, service
from textfromtrack.jobs.models import Job, JobSegment, JobStatus
from textfromtrack.jobs.schemas import JobSummary
from textfromtrack.media import store
from textfromtrack.ranges import stored_file_response
from textfromtrack.web.schemas import (
    WebAccount,
    WebJob,
    WebJobList,
    WebSegments,
    web_segment,
)

router = APIRouter(prefix="/api/web", tags=["web app"])
PER_PAGE = 20


def web_jobs(session: Session, settings: Settings, jobs: Sequence[Job]) -> list[WebJob]:
    charged = service.credits_charged(session, jobs)
    return [
        WebJob(
            **JobSummary.fields_of(
                service.facts_of(job), charged[job.id], settings.export_retention_days
            ),
            attempts_log=job.attempts_log or [],
            keep_audio=job.keep_audio,
            # Only a done job that asked to keep its audio can have any: spare the disk look-up.
            audio_available=job.keep_audio
            and job.status == JobStatus.DONE
            and kept_audio.playback_key(store.store_for(settings), job.id) is not None,
            language_requested=job.language_requested,
        )
        for job in jobs
    ]


def web_job(session: Session, settings: Settings, job: Job) -> WebJob:
    return web_jobs(session, settings, [job])[0]


@router.get("/account", response_model=WebAccount)
def account(caller: CurrentWebCaller, session: SessionDep, settings: SettingsDep) -> WebAccount:
    return WebAccount(
        email=caller.user.email,
        credit_balance=credits.balance(session, caller.user.id),
        top_up_url=settings.effective_top_up_url,
    )


@router.get("/jobs", response_model=WebJobList)
async def list_jobs(
    caller: CurrentWebCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    page: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=service.MAX_PER_PAGE)] = PER_PAGE,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
) -> WebJobList:
    def read(session: Session) -> WebJobList:
        total, jobs = service.list_for_user(session, caller.user.id, page, per_page, status_filter)
        return WebJobList(
            page=page,
            per_page=per_page,
            total=total,
            # Tells the page whether to keep polling, whatever the filter shows.
            active=service.active_count(session, caller.user.id),
            jobs=web_jobs(session, settings, jobs),
        )

    # The app polls this every 2 s per open page: one thread hop, one connection, briefly.
    return await in_session(db, read)


@router.get("/jobs/events", response_class=StreamingResponse)
async def list_events(
    request: Request, caller: CurrentWebCaller, db: DatabaseDep, settings: SettingsDep
) -> StreamingResponse:
    """The user's active jobs as they change (server-sent events; see jobs.events)."""
    return events.streaming(events.list_stream(request, db, settings, caller.user.id))


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
async def job_events(
    job_id: str,
    request: Request,
    caller: CurrentWebCaller,
    db: DatabaseDep,
    settings: SettingsDep,
) -> StreamingResponse:
    """One job's status, stage and attempts as they change (see jobs.events)."""
    await in_connection(db, lambda c: events.read_job(c, caller.user.id, job_id))  # 404 first
    return events.streaming(events.job_stream(request, db, settings, caller.user.id, job_id))


def _options(received: ReceivedUpload) -> service.SubmitOptions:
    return service.normalise_options(
        received.flag("pinyin"),
        received.flag("vintage"),
        received.text("language"),
        received.text("chinese_script"),
        received.flag("keep_audio"),
        received.text("lyrics"),
    )


@router.post("/jobs", status_code=status.HTTP_201_CREATED, response_model=WebJob)
async def submit(
    request: Request,
    caller: CurrentWebCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    slots: UploadSlotsDep,
    ip: ClientIp,
) -> WebJob:
    """The app's upload: the API's fields (``lyrics`` included) plus ``keep_audio``, read
    as the API reads them."""
    job = await intake.accept(request, db, settings, dispatcher, slots, caller.user, ip, _options)
    return await run_in_threadpool(_fresh_web_job, db, settings, job)


def _fresh_web_job(db: Database, settings: Settings, job: Job) -> WebJob:
    with db.session() as session:
        return web_job(session, settings, job)


@router.get("/jobs/{job_id}", response_model=WebJob)
async def get_job(
    job_id: str, caller: CurrentWebCaller, db: DatabaseDep, settings: SettingsDep
) -> WebJob:
    return await in_session(
        db,
        lambda session: web_job(
            session, settings, service.get_for_user(session, caller.user.id, job_id)
        ),
    )


@router.get("/jobs/{job_id}/segments", response_model=WebSegments)
def get_segments(
    job_id: str, caller: CurrentWebCaller, session: SessionDep, settings: SettingsDep
) -> WebSegments:
    job = service.get_for_user(session, caller.user.id, job_id)
    return _web_segments(job, service.segments_of(session, settings, job))


def _web_segments(job: Job, rows: Sequence[JobSegment]) -> WebSegments:
    return WebSegments(
        job_id=job.id,
        language=job.language,
        duration_seconds=round(job.duration_seconds, 3),
        revision=job.revision,
        segments=[web_segment(r.index, r.start, r.end, r.text, r.words) for r in rows],
    )


def _edited(session: Session, job: Job) -> WebSegments:
    return _web_segments(job, service.stored_segments(session, job))


@router.patch("/jobs/{job_id}/segments", response_model=WebSegments)
def edit_segments(
    job_id: str,
    body: editing.SegmentsEdit,
    caller: CurrentWebCaller,
    session: SessionDep,
    settings: SettingsDep,
) -> WebSegments:
    """Save the edited lines as a new revision (the API's PATCH rules; free)."""
    job = service.get_for_user(session, caller.user.id, job_id)
    return _edited(session, editing.save(session, settings, job, body))


@router.delete("/jobs/{job_id}/segments/edits", response_model=WebSegments)
def undo_edits(
    job_id: str, caller: CurrentWebCaller, session: SessionDep, settings: SettingsDep
) -> WebSegments:
    """Back to the machine's lines."""
    job = service.get_for_user(session, caller.user.id, job_id)
    return _edited(session, editing.restore_original(session, settings, job))


@router.get("/jobs/{job_id}/export", response_class=Response)
def export(
    job_id: str,
    caller: CurrentWebCaller,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[str, Query(min_length=1, max_length=16)] = "txt",
    words: bool = False,
) -> Response:
    job = service.get_for_user(session, caller.user.id, job_id)
    return export_response(session, settings, job, format, words=words)


@router.get("/jobs/{job_id}/audio", response_class=FileResponse)
def audio(
    job_id: str, caller: CurrentWebCaller, session: SessionDep, settings: SettingsDep
) -> Response:
    """The kept upload for the player, with Range support so that seeking works."""
    job = service.get_for_user(session, caller.user.id, job_id)
    found = None
    files = store.store_for(settings)
    if job.status == JobStatus.DONE:
        service.require_results(job, settings)
        found = kept_audio.playback_key(files, job.id)
    response = None
    if found is not None:
        key, media_type = found
        response = stored_file_response(
            files, key, media_type, headers={"Cache-Control": "private"}
        )
    if response is None:
        raise NotFound("The audio of this transcription was not kept.")
    return response


@router.delete("/jobs/{job_id}", response_model=WebJob)
def cancel(
    job_id: str, caller: CurrentWebCaller, session: SessionDep, settings: SettingsDep
) -> WebJob:
    job = service.get_for_user(session, caller.user.id, job_id)
    return web_job(session, settings, service.cancel(session, settings, job))


@router.post(
    "/jobs/{job_id}/retry-music", status_code=status.HTTP_201_CREATED, response_model=WebJob
)
def retry_music(
    job_id: str,
    caller: CurrentWebCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    ip: ClientIp,
) -> WebJob:
    with db.session() as session:
        job = service.get_for_user(session, caller.user.id, job_id)
        job.lyrics  # noqa: B018  (deferred: loaded while the session is open, for the retry)
    # Copying and probing the kept audio happens with no connection held.
    new = service.retry_in_music_mode(db, settings, caller.user, job, ip, dispatcher)
    return _fresh_web_job(db, settings, new)
