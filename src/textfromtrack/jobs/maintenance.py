"""Periodic upkeep: put back jobs of dead workers, and apply the retention policy.

These are the passes; jobs/upkeep.py runs them in exactly one process at a time."""

from __future__ import annotations

import functools
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database, after_commit, updated, utcnow
from textfromtrack.jobs.models import Job, JobSegment, JobStatus
from textfromtrack.media import storage, store

log = logging.getLogger(__name__)

# An upload that no job owns is debris from a crash while it was received, probed or
# admitted. One written by a process that is gone is removed at once; one whose writer
# cannot be checked (another host sharing the folder) once it is this old, which is
# longer than any upload may take to arrive and be probed (TFT_UPLOAD_TIMEOUT_SECONDS).
ORPHAN_UPLOAD_AGE = timedelta(minutes=10)


def _worker_is_dead_here(worker: str | None) -> bool:
    """True when ``worker`` names a process on this host that no longer exists."""
    if not worker:
        return True
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Recovery:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def recover_stale_jobs(db: Database, settings: Settings, now: datetime | None = None) -> Recovery:
    """Processing jobs whose worker is gone go back to pending, or fail and refund when
    they have used up their attempts."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.heartbeat_timeout_seconds)
    out = Recovery()
    with db.session() as s:
        rows = s.execute(
            select(Job.id, Job.worker_id, Job.heartbeat_at, Job.claims).where(
                Job.status == JobStatus.PROCESSING
            )
        ).all()
    for job_id, worker, heartbeat, claims in rows:
        stale = heartbeat is None or heartbeat < cutoff
        if not stale and not _worker_is_dead_here(worker):
            continue
        with db.session() as s:
            guard = (Job.id == job_id, Job.status == JobStatus.PROCESSING, Job.worker_id == worker)
            if claims >= settings.job_max_attempts:
                changed = updated(
                    s,
                    update(Job)
                    .where(*guard)
                    .values(
                        status=JobStatus.ERROR,
                        error="Transcription failed: the worker stopped repeatedly on this file. "
                        "Your credit was refunded.",
                        completed_at=now,
                    ),
                )
                if changed:
                    credits.refund_for_job(s, job_id)
                    # A handed-off first attempt's lines, if any: a failed job has none.
                    s.execute(delete(JobSegment).where(JobSegment.job_id == job_id))
                    upload = s.scalar(select(Job.upload_name).where(Job.id == job_id))
                    s.execute(update(Job).where(Job.id == job_id).values(upload_name=None))
                    out.failed.append(job_id)
                    # A failed job owns nothing any more: its upload and partial output go.
                    after_commit(s, functools.partial(_remove_job_files, settings, job_id, upload))
            else:
                changed = updated(
                    s,
                    update(Job)
                    .where(*guard)
                    .values(status=JobStatus.PENDING, worker_id=None, progress=0.0),
                )
                if changed:
                    out.requeued.append(job_id)
    for job_id in out.requeued:
        log.warning("job %s was held by a dead worker; put back to pending", job_id)
    for job_id in out.failed:
        log.error("job %s exhausted its attempts; failed and refunded", job_id)
    return out


def _remove_job_files(settings: Settings, job_id: str, upload_name: str | None) -> None:
    files = store.store_for(settings)
    if upload_name:
        files.delete(store.upload_key(upload_name))
    files.delete_prefix(store.job_prefix(job_id))


def pending_job_ids(db: Database, limit: int = 1000) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(
                select(Job.id)
                .where(Job.status == JobStatus.PENDING)
                .order_by(Job.created_at)
                .limit(limit)
            )
        )


def unclaimed_pending_job_ids(
    db: Database, created_before: datetime, limit: int = 1000
) -> list[str]:
    """Pending jobs admitted before ``created_before``: candidates for a re-sent message."""
    with db.session() as s:
        return list(
            s.scalars(
                select(Job.id)
                .where(Job.status == JobStatus.PENDING, Job.created_at < created_before)
                .order_by(Job.created_at)
                .limit(limit)
            )
        )


def sweep_expired(db: Database, settings: Settings, now: datetime | None = None) -> list[str]:
    """Delete segments and exports of jobs completed longer ago than the retention period."""
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.export_retention_days)
    with db.session() as s:
        due = list(
            s.scalars(
                select(Job.id).where(
                    Job.status == JobStatus.DONE, Job.completed_at < cutoff, Job.purged_at.is_(None)
                )
            )
        )
    for job_id in due:
        with db.session() as s:
            s.execute(delete(JobSegment).where(JobSegment.job_id == job_id))
            s.execute(update(Job).where(Job.id == job_id).values(purged_at=now))
        store.store_for(settings).delete_prefix(store.job_prefix(job_id))
    remove_orphans(db, settings, now)
    return due


@dataclass
class Orphans:
    uploads: list[str] = field(default_factory=list)
    job_folders: list[str] = field(default_factory=list)


def remove_orphans(db: Database, settings: Settings, now: datetime | None = None) -> Orphans:
    """Delete files that no live job owns: uploads no job refers to, and job folders
    (kept audio) of jobs that are not done, no longer exist or were purged.

    Runs at start-up and with every sweep, on the data dir or the bucket alike. Uploads
    still being received into a local folder carry their writer's pid in their name and
    are left alone while that process lives. A bucket is shared by hosts whose pids mean
    nothing here, so there only an object's age (its LastModified) says it is debris.
    """
    now = now or utcnow()
    out = Orphans()
    files = store.store_for(settings)
    found = list(files.objects(store.UPLOADS_PREFIX))
    if found:
        with db.session() as s:
            owned = set(s.scalars(select(Job.upload_name).where(Job.upload_name.is_not(None))))
        for obj in found:
            if obj.name in owned:
                continue
            writer_gone = files.on_this_machine and storage.upload_writer_is_dead(obj.name)
            if writer_gone or now - obj.modified > ORPHAN_UPLOAD_AGE:
                # Checked again just before deleting: admission may have committed meanwhile.
                with db.session() as s:
                    if s.scalar(select(Job.id).where(Job.upload_name == obj.name)) is not None:
                        continue
                files.delete(obj.key)
                out.uploads.append(obj.name)
    if not files.on_this_machine:
        remove_dead_spool(settings)
    names = files.folders(store.EXPORTS_PREFIX)
    if names:
        with db.session() as s:
            keep = set(
                s.scalars(
                    select(Job.id).where(
                        Job.id.in_(names),
                        or_(
                            Job.status == JobStatus.PROCESSING,
                            (Job.status == JobStatus.DONE) & Job.purged_at.is_(None),
                        ),
                    )
                )
            )
        for name in names:
            if name not in keep:
                files.delete_prefix(store.job_prefix(name))
                out.job_folders.append(name)
    if out.uploads or out.job_folders:
        log.info(
            "removed %d orphaned upload(s) and %d orphaned job folder(s)",
            len(out.uploads),
            len(out.job_folders),
        )
    return out


def remove_dead_spool(settings: Settings) -> None:
    """The local copies a bucket's users make (``store.SPOOL``) that a killed process left.

    Run by the maintenance role on its own data dir, and by every ``tft worker`` at
    start on its own (a machine that runs only workers has no maintenance role)."""
    folder = store.spool_dir(settings.data_dir)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and storage.upload_writer_is_dead(path.name):
            storage.remove_quietly(path)
