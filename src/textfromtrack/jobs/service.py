"""Jobs: submission and admission, reading, listing, cancelling.

Admission (limits, balance, debit) runs in one serialised transaction, so
parallel submits can never over-admit or overdraw; the job is enqueued only
after that transaction commits.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from textfromtrack.accounts.models import User
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import after_commit, begin_write, serialize_writes, updated, utcnow
from textfromtrack.errors import (
    Gone,
    InsufficientCredits,
    InvalidState,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from textfromtrack.exports import files
from textfromtrack.jobs import audio as kept_audio
from textfromtrack.jobs.models import ACTIVE_STATUSES, Job, JobSegment, JobStatus
from textfromtrack.media import storage
from textfromtrack.media.formats import check_extension, extension_of
from textfromtrack.media.probe import probe
from textfromtrack.pipeline import chinese
from textfromtrack.pipeline.languages import WHISPER_LANGUAGES
from textfromtrack.queue.base import Dispatcher
from textfromtrack.timestamps import rfc3339

log = logging.getLogger(__name__)

MAX_DURATION_SECONDS = 600.0
# A pending job usually starts within seconds; tell clients to come back after a short wait.
RETRY_AFTER_SECONDS = 15
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class SubmitOptions:
    pinyin: bool = False
    vintage: bool = False
    language: str | None = None
    chinese_script: str = "simplified"
    keep_audio: bool = False


def normalise_options(
    pinyin: bool,
    vintage: bool,
    language: str | None,
    chinese_script: str | None = None,
    keep_audio: bool = False,
) -> SubmitOptions:
    if pinyin and vintage:
        raise ValidationFailed(
            "pinyin and vintage cannot be combined.",
            details={"fields": {"pinyin": "not with vintage", "vintage": "not with pinyin"}},
        )
    code = (language or "").strip().lower() or None
    if code is not None and code not in WHISPER_LANGUAGES:
        raise ValidationFailed(
            f"Unknown language code {language!r}; use an ISO 639-1 code such as en, es or zh.",
            details={"fields": {"language": "unknown ISO 639-1 code"}},
        )
    script = (chinese_script or "simplified").strip().lower()
    if script not in chinese.SCRIPTS:
        choices = ", ".join(chinese.SCRIPTS)
        raise ValidationFailed(
            f"chinese_script must be one of {choices}.",
            details={"fields": {"chinese_script": f"one of {choices}"}},
        )
    return SubmitOptions(
        pinyin=pinyin,
        vintage=vintage,
        language=code,
        chinese_script=script,
        keep_audio=keep_audio,
    )


def submit(
    session: Session,
    settings: Settings,
    user: User,
    upload: BinaryIO,
    filename: str,
    options: SubmitOptions,
    client_ip: str,
    dispatcher: Dispatcher,
) -> Job:
    """Store, check and admit an upload. On any refusal nothing is left behind."""
    check_extension(filename)
    path = storage.new_upload_path(settings.data_dir, extension_of(filename))
    storage.copy_limited(upload, path, storage.MAX_UPLOAD_BYTES)  # removes its partial file
    return _check_and_admit(
        session, settings, user, path, filename, filename, options, client_ip, dispatcher
    )


def retry_in_music_mode(
    session: Session,
    settings: Settings,
    user: User,
    job: Job,
    client_ip: str,
    dispatcher: Dispatcher,
) -> Job:
    """A new vintage job from a finished job's kept audio, admitted and charged like any other."""
    require_results(job)
    source = kept_audio.source_path(settings.data_dir, job.id)
    if source is None:
        raise InvalidState(
            "The audio of this transcription was not kept, so it cannot be retried here. "
            "Upload the file again with music mode on.",
            details={"keep_audio": job.keep_audio},
        )
    path = storage.new_upload_path(settings.data_dir, source.suffix)
    try:
        shutil.copyfile(source, path)
    except BaseException:
        storage.remove_quietly(path)
        raise
    options = SubmitOptions(
        vintage=True,
        language=job.language_requested,
        chinese_script=job.chinese_script,
        keep_audio=True,
    )
    # The stored copy's extension is what FFmpeg checks; the user's name stays for display.
    return _check_and_admit(
        session, settings, user, path, path.name, job.filename, options, client_ip, dispatcher
    )


def _check_and_admit(
    session: Session,
    settings: Settings,
    user: User,
    path: Path,
    probe_name: str,
    display_name: str,
    options: SubmitOptions,
    client_ip: str,
    dispatcher: Dispatcher,
) -> Job:
    try:
        info = probe(path, probe_name, MAX_DURATION_SECONDS)
        job = _admit(
            session, settings, user, path, display_name, info.duration_seconds, options, client_ip
        )
    except BaseException:
        storage.remove_quietly(path)
        raise
    job_id = job.id
    after_commit(session, lambda: dispatcher.enqueue(job_id))
    return job


def _admit(
    session: Session,
    settings: Settings,
    user: User,
    path: Path,
    filename: str,
    duration: float,
    options: SubmitOptions,
    client_ip: str,
) -> Job:
    serialize_writes(session)
    active_for_user = _count_active(session, Job.user_id == user.id)
    if active_for_user >= settings.max_active_jobs_per_user:
        raise RateLimited(
            f"You already have {active_for_user} jobs in progress; the limit is "
            f"{settings.max_active_jobs_per_user}. Wait for one to finish.",
            retry_after=RETRY_AFTER_SECONDS,
            details={"limit": settings.max_active_jobs_per_user, "scope": "user"},
        )
    active_for_ip = _count_active(session, Job.client_ip == client_ip)
    if active_for_ip >= settings.max_active_jobs_per_ip:
        raise RateLimited(
            f"Too many jobs in progress from your address; the limit is "
            f"{settings.max_active_jobs_per_ip}. Wait for one to finish.",
            retry_after=RETRY_AFTER_SECONDS,
            details={"limit": settings.max_active_jobs_per_ip, "scope": "ip"},
        )
    available = credits.balance(session, user.id)
    if available < credits.JOB_COST:
        raise InsufficientCredits(
            f"Your account has {available} credits. This job needs {credits.JOB_COST}.",
            details={
                "required": credits.JOB_COST,
                "available": available,
                "top_up_url": settings.top_up_url,
            },
        )
    job = Job(
        user_id=user.id,
        filename=_display_name(filename),
        upload_name=path.name,
        client_ip=client_ip,
        duration_seconds=duration,
        credits_quoted=credits.JOB_COST,
        language_requested=options.language,
        pinyin=options.pinyin,
        vintage=options.vintage,
        chinese_script=options.chinese_script,
        keep_audio=options.keep_audio,
        attempts_log=[],
    )
    session.add(job)
    session.flush()
    credits.debit_for_job(session, user.id, job.id)
    return job


def _display_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:255] or "upload"


def active_count(session: Session, user_id: str) -> int:
    return _count_active(session, Job.user_id == user_id)


def _count_active(session: Session, condition: object) -> int:
    stmt = select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE_STATUSES), condition)  # type: ignore[arg-type]
    return int(session.scalar(stmt) or 0)


# ---------------------------------------------------------------- reading


def get_for_user(session: Session, user_id: str, job_id: str) -> Job:
    """The caller's job; someone else's is indistinguishable from a missing one."""
    job = session.get(Job, job_id) if len(job_id) <= 36 else None
    if job is None or job.user_id != user_id:
        raise NotFound("No such transcription.")
    return job


def credits_charged(session: Session, jobs: Sequence[Job]) -> dict[str, int]:
    """What each job costs its owner now, by id: its quote while charged, else 0."""
    charged = credits.charged_jobs(session, [j.id for j in jobs])
    return {j.id: j.credits_quoted if j.id in charged else 0 for j in jobs}


def list_for_user(
    session: Session, user_id: str, page: int, per_page: int, status: JobStatus | None
) -> tuple[int, list[Job]]:
    conditions = [Job.user_id == user_id]
    if status is not None:
        conditions.append(Job.status == status)
    total = int(session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0)
    jobs = session.scalars(
        select(Job)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return total, list(jobs)


def require_results(job: Job) -> None:
    """Segments and exports exist only for done jobs, and only until the retention sweep."""
    if job.status != JobStatus.DONE:
        raise InvalidState(
            f"The transcription is {job.status.value}; results exist only when it is done.",
            details={"status": job.status.value},
        )
    if job.purged_at is not None:
        raise Gone(
            "This transcript was deleted by the retention policy.",
            details={"purged_at": rfc3339(job.purged_at)},
        )


def segments_of(session: Session, job: Job) -> list[JobSegment]:
    require_results(job)
    return list(
        session.scalars(
            select(JobSegment).where(JobSegment.job_id == job.id).order_by(JobSegment.index)
        )
    )


def export_file(settings: Settings, job: Job, fmt: str) -> Path:
    require_results(job)
    path = files.export_path(settings.data_dir, job.id, fmt)
    if not path.is_file():
        # Exports are written before a job is marked done; a missing file was removed out of band.
        raise Gone("This export is no longer available.")
    return path


# ---------------------------------------------------------------- cancelling


def cancel(session: Session, settings: Settings, job: Job) -> Job:
    """DELETE semantics of the spec: pending is refunded; processing and done are not."""
    begin_write(session)
    session.refresh(job)
    for _ in range(3):
        observed = job.status
        if observed in (JobStatus.CANCELLED, JobStatus.ERROR):
            return job
        now = utcnow()
        changed = updated(
            session,
            update(Job)
            .where(Job.id == job.id, Job.status == observed)
            .values(status=JobStatus.CANCELLED, cancelled_at=now),
        )
        session.refresh(job)
        if not changed:
            continue  # a worker moved it meanwhile; decide again on the new state
        if observed == JobStatus.PENDING:
            credits.refund_for_job(session, job.id)
            _remove_upload(session, settings, job)
        elif observed == JobStatus.DONE:
            session.execute(delete(JobSegment).where(JobSegment.job_id == job.id))
            folder = files.job_exports_dir(settings.data_dir, job.id)
            after_commit(session, functools.partial(storage.remove_tree_quietly, folder))
        # A processing job is left to its worker, which stops at the next stage and cleans up.
        return job
    return job


def _remove_upload(session: Session, settings: Settings, job: Job) -> None:
    if job.upload_name:
        path = storage.uploads_dir(settings.data_dir) / job.upload_name
        job.upload_name = None
        after_commit(session, functools.partial(storage.remove_quietly, path))
