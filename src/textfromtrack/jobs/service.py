"""Jobs: submission and admission, reading, listing, cancelling.

Admission (limits, balance, debit) runs in one serialised transaction, so
parallel submits can never over-admit or overdraw; the job is enqueued only
after that transaction commits.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Result,
    Select,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from textfromtrack import logs
from textfromtrack.accounts.models import User
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database, after_commit, begin_write, serialize_writes, updated, utcnow
from textfromtrack.errors import (
    Gone,
    InsufficientCredits,
    InvalidState,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from textfromtrack.jobs import audio as kept_audio
from textfromtrack.jobs.models import ACTIVE_STATUSES, Job, JobSegment, JobStatus
from textfromtrack.media import storage, store
from textfromtrack.media.probe import probe
from textfromtrack.pipeline import alignment, chinese
from textfromtrack.pipeline.languages import WHISPER_LANGUAGES
from textfromtrack.queue import routing
from textfromtrack.queue.base import Dispatcher
from textfromtrack.timestamps import rfc3339

log = logging.getLogger(__name__)

MAX_DURATION_SECONDS = 600.0
# A pending job usually starts within seconds; tell clients to come back after a short wait.
RETRY_AFTER_SECONDS = 15
MAX_PER_PAGE = 200
# Far past any real account's history, yet small enough that page * per_page can never
# overflow a database's OFFSET (SQLite's is a signed 64-bit integer).
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class SubmitOptions:
    pinyin: bool = False
    vintage: bool = False
    language: str | None = None
    chinese_script: str = "simplified"
    keep_audio: bool = False
    prompt: str | None = None
    temperature: float | None = None
    task: str = "transcribe"
    # The user's own lyrics (line breaks as LF): aligned to the audio, not transcribed.
    lyrics: str | None = None


def normalise_lyrics(lyrics: str | None) -> str | None:
    """The ``lyrics`` field as kept (CRLF and CR line breaks as LF), or None when absent.

    Present means meant: an empty or whitespace-only value is refused, as is one over
    MAX_LYRICS_CHARS characters (counted after the line breaks are normalised, so a
    browser's CRLF counts once) or one with control characters (binary data).
    """
    if lyrics is None:
        return None
    text = lyrics.replace("\r\n", "\n").replace("\r", "\n")
    why = alignment.check_lyrics(text)
    if why is not None:
        raise ValidationFailed(
            f"lyrics {why}: give the words as plain text, one sung line per line.",
            details={"fields": {"lyrics": why}},
        )
    return text


def normalise_options(
    pinyin: bool,
    vintage: bool,
    language: str | None,
    chinese_script: str | None = None,
    keep_audio: bool = False,
    lyrics: str | None = None,
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
        lyrics=normalise_lyrics(lyrics),
    )


# Probing decodes the whole file: on a burst, run a few at a time rather than all at once,
# so memory stays bounded and each one finishes sooner.
_PROBES = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def precheck(db: Database, settings: Settings, user_id: str, client_ip: str) -> None:
    """Refuse, before the body is read, an upload that admission would refuse anyway.

    Admission checks again in its own serialised transaction: this is only an early
    answer for a client over its limits or out of credits, not the rule itself.
    """
    with db.session() as session:
        _check_admission(session, settings, user_id, client_ip)


def admit_upload(
    db: Database,
    settings: Settings,
    user: User,
    path: Path,
    probe_name: str,
    display_name: str,
    options: SubmitOptions,
    client_ip: str,
    dispatcher: Dispatcher,
) -> Job:
    """Probe a received upload (``path``, the store's local spool), store it, then admit it
    in one short transaction; enqueue after commit.

    No connection is held while probing or storing (a bucket's multipart upload takes a
    while). On any refusal the file and the stored object are removed, and no job row or
    ledger entry exists.
    """
    files = store.store_for(settings)
    key = store.upload_key(path.name)
    try:
        with _PROBES:
            info = probe(path, probe_name, MAX_DURATION_SECONDS)
        # Stored before the job exists, so a worker that gets the job finds its audio.
        files.put_file(key, path, move=True)
        with db.session() as session:
            job = _admit(
                session,
                settings,
                user.id,
                path,
                display_name,
                info.duration_seconds,
                options,
                client_ip,
            )
            job_id = job.id
            after_commit(session, lambda: dispatcher.enqueue(job_id))
    except BaseException:
        storage.remove_quietly(path)
        if not files.on_this_machine:
            files.delete(key)  # in a folder the spool was the stored file itself
        raise
    logs.job_event(
        log,
        "accepted",
        job.id,
        "accepted (%.1f s of audio, %s queue)",
        job.duration_seconds,
        routing.queue_for(job.vintage),
        audio_seconds=job.duration_seconds,
        queue=routing.queue_for(job.vintage),
        user_id=job.user_id,
    )
    return job


def retry_in_music_mode(
    db: Database,
    settings: Settings,
    user: User,
    job: Job,
    client_ip: str,
    dispatcher: Dispatcher,
) -> Job:
    """A new vintage job from a finished job's kept audio, admitted and charged like any other."""
    require_results(job, settings)
    files = store.store_for(settings)
    source = kept_audio.source_key(files, job.id)
    if source is None:
        raise InvalidState(
            "The audio of this transcription was not kept, so it cannot be retried here. "
            "Upload the file again with music mode on.",
            details={"keep_audio": job.keep_audio},
        )
    precheck(db, settings, user.id, client_ip)
    path = files.spool(store.upload_key(storage.new_upload_name(PurePosixPath(source).suffix)))
    try:
        files.fetch(source, path)
    except BaseException:
        storage.remove_quietly(path)
        raise
    options = SubmitOptions(
        vintage=True,
        language=job.language_requested,
        chinese_script=job.chinese_script,
        keep_audio=True,
        lyrics=job.lyrics,
    )
    # The stored copy's extension is what FFmpeg checks; the user's name stays for display.
    return admit_upload(
        db, settings, user, path, path.name, job.filename, options, client_ip, dispatcher
    )


def _check_admission(session: Session, settings: Settings, user_id: str, client_ip: str) -> None:
    active_for_user = _count_active(session, Job.user_id == user_id)
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
    available = credits.balance(session, user_id)
    if available < credits.JOB_COST:
        raise InsufficientCredits(
            f"Your account has {available} credits. This job needs {credits.JOB_COST}.",
            details={
                "required": credits.JOB_COST,
                "available": available,
                "top_up_url": settings.effective_top_up_url,
            },
        )


def _admit(
    session: Session,
    settings: Settings,
    user_id: str,
    path: Path,
    filename: str,
    duration: float,
    options: SubmitOptions,
    client_ip: str,
) -> Job:
    serialize_writes(session)
    _check_admission(session, settings, user_id, client_ip)
    job = Job(
        user_id=user_id,
        filename=display_filename(filename),
        upload_name=path.name,
        client_ip=client_ip,
        duration_seconds=duration,
        credits_quoted=credits.JOB_COST,
        language_requested=options.language,
        pinyin=options.pinyin,
        vintage=options.vintage,
        chinese_script=options.chinese_script,
        keep_audio=options.keep_audio,
        prompt=options.prompt,
        temperature=options.temperature,
        task=options.task,
        lyrics=options.lyrics,
        attempts_log=[],
    )
    session.add(job)
    session.flush()
    credits.debit_for_job(session, user_id, job.id)
    return job


# Characters that must never reach a stored name or a Content-Disposition header: C0/C1
# controls (NUL included), line and paragraph separators, the byte-order mark, and the
# bidirectional embeddings, overrides and isolates that let "evil\u202egpj.exe" read as
# "evilexe.jpg".
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_ALSO_REMOVED = frozenset("\u2028\u2029\ufeff")


def display_filename(filename: str) -> str:
    """The user's file name as kept for display: last path part, NFC, no control,
    bidi-override or NUL characters, at most 255 characters; "upload" when nothing is left."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cs")
        and ch not in _BIDI_CONTROLS
        and ch not in _ALSO_REMOVED
    ).strip()
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
    """One page of the user's jobs as ORM objects, newest first, and how many in all."""
    total = _count(session, user_id, status)
    if total <= (page - 1) * per_page:
        return total, []
    conditions = [Job.user_id == user_id] + ([Job.status == status] if status else [])
    stmt = (
        select(Job)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return total, list(session.scalars(stmt))


# What the API shows of a job (JobSummary's facts). The poll and the list read these
# columns, plus whether the job is charged now, as plain dicts, through statements
# built once here with bound parameters, usually on a bare connection
# (Database.reading): no ORM identity map or change tracking for rows that are only
# shown, no second query to the ledger, no statement to build, coerce and hash again
# per request, and the list never reads attempts_log. Measured in one process: a poll
# through a Session and a freshly built select took 770 us, this takes 115 us (the
# query itself, through the DB-API, 20 us); a Row's attribute access alone costs 1 us.
SHOWN = (
    Job.id,
    Job.status,
    Job.filename,
    Job.language,
    Job.duration_seconds,
    Job.segment_count,
    Job.credits_quoted,
    Job.model,
    Job.degraded,
    Job.vocal_separation_used,
    Job.attempts,
    Job.runtime_seconds,
    Job.created_at,
    Job.completed_at,
    Job.vintage,
    Job.pinyin,
    Job.chinese_script,
    Job.progress,
    Job.error,
    Job.stage,
    Job.revision,
    Job.lyrics_anchored,
)
_CHARGED = credits.charged_column(Job.id).label("charged")
_OWNED = Job.user_id == bindparam("user_id")
_WITH_STATUS = Job.status == bindparam("status")
_SHOWN_JOB = select(*SHOWN, _CHARGED, Job.attempts_log).where(Job.id == bindparam("job_id"), _OWNED)


def _counting(*conditions: ColumnElement[bool]) -> Select[tuple[int]]:
    return select(func.count()).select_from(Job).where(*conditions)


def _paging(*conditions: ColumnElement[bool]) -> Select[Any]:
    # Newest first on the (user_id, created_at, id) index: the page reads only its rows.
    return (
        select(*SHOWN, _CHARGED)
        .where(*conditions)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


# By whether a status filter applies. The count reads the index alone; counting in the
# page query (a window count) would make SQLite materialise every job of the user.
_COUNT = {False: _counting(_OWNED), True: _counting(_OWNED, _WITH_STATUS)}
_PAGE = {False: _paging(_OWNED), True: _paging(_OWNED, _WITH_STATUS)}


def facts_of(job: Job) -> dict[str, Any]:
    """An ORM job's ``SHOWN`` facts, by name, for the paths that hold a ``Job`` anyway."""
    return {column.key: getattr(job, column.key) for column in SHOWN}


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _count(db: Session | Connection, user_id: str, status: JobStatus | None) -> int:
    params = {"user_id": user_id, "status": status}
    return int(db.execute(_COUNT[status is not None], params).scalar() or 0)


def shown_job(db: Session | Connection, user_id: str, job_id: str) -> dict[str, Any]:
    """The caller's job as a poll shows it, with ``charged`` and ``attempts_log``; 404 as
    ``get_for_user``."""
    found = (
        _dicts(db.execute(_SHOWN_JOB, {"job_id": job_id, "user_id": user_id}))
        if len(job_id) <= 36
        else []
    )
    if not found:
        raise NotFound("No such transcription.")
    return found[0]


def shown_page(
    db: Session | Connection, user_id: str, page: int, per_page: int, status: JobStatus | None
) -> tuple[int, list[dict[str, Any]]]:
    """One page of the user's jobs as the list shows them (with ``charged``), newest
    first, and how many there are in all."""
    total = _count(db, user_id, status)
    if total <= (page - 1) * per_page:
        return total, []
    params = {
        "user_id": user_id,
        "status": status,
        "offset": (page - 1) * per_page,
        "limit": per_page,
    }
    return total, _dicts(db.execute(_PAGE[status is not None], params))


def results_expire_at(job: Job, retention_days: float) -> datetime | None:
    """When a done job's segments and exports stop being served (``exports_expire_at``)."""
    if job.status != JobStatus.DONE or job.completed_at is None:
        return None
    return job.completed_at + timedelta(days=retention_days)


def require_results(job: Job, settings: Settings, now: datetime | None = None) -> None:
    """Segments and exports exist only for done jobs, and only until ``exports_expire_at``.

    Expiry is decided here, when a result is read; the retention sweep only reclaims
    the space later, so a result is never served past its date because a sweep is late.
    """
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
    expires = results_expire_at(job, settings.export_retention_days)
    if expires is not None and (now or utcnow()) >= expires:
        raise Gone(
            "This transcript expired under the retention policy.",
            details={"purged_at": rfc3339(expires)},
        )


def segments_of(session: Session, settings: Settings, job: Job) -> list[JobSegment]:
    """The lines a reader may see: 409 unless done, 410 after retention."""
    require_results(job, settings)
    return stored_segments(session, job)


def stored_segments(session: Session, job: Job) -> list[JobSegment]:
    """The job's current lines, in order, whatever its state (editing writes them)."""
    return list(
        session.scalars(
            select(JobSegment).where(JobSegment.job_id == job.id).order_by(JobSegment.index)
        )
    )


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
            # A job waiting for the vintage queue holds its first attempt's lines.
            session.execute(delete(JobSegment).where(JobSegment.job_id == job.id))
        elif observed == JobStatus.DONE:
            session.execute(delete(JobSegment).where(JobSegment.job_id == job.id))
            remove = store.store_for(settings).delete_prefix
            after_commit(session, functools.partial(remove, store.job_prefix(job.id)))
        # A processing job is left to its worker, which stops at the next stage and cleans up.
        return job
    return job


def _remove_upload(session: Session, settings: Settings, job: Job) -> None:
    if job.upload_name:
        key = store.upload_key(job.upload_name)
        job.upload_name = None
        after_commit(session, functools.partial(store.store_for(settings).delete, key))
