"""Periodic upkeep: put back jobs of dead workers, and apply the retention policy."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database, updated, utcnow
from textfromtrack.exports import files
from textfromtrack.jobs.models import ACTIVE_STATUSES, Job, JobSegment, JobStatus
from textfromtrack.media import storage

log = logging.getLogger(__name__)

# An upload with no active job this old is debris from a crash between saving and admitting.
ORPHAN_UPLOAD_AGE = timedelta(hours=1)


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
                    out.failed.append(job_id)
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
        storage.remove_tree_quietly(files.job_exports_dir(settings.data_dir, job_id))
    _remove_orphan_uploads(db, settings, now)
    return due


def _remove_orphan_uploads(db: Database, settings: Settings, now: datetime) -> None:
    folder = storage.uploads_dir(settings.data_dir)
    if not folder.is_dir():
        return
    with db.session() as s:
        live = set(
            s.scalars(
                select(Job.upload_name).where(
                    Job.status.in_(ACTIVE_STATUSES), Job.upload_name.is_not(None)
                )
            )
        )
    for path in folder.iterdir():
        if path.name in live or not path.is_file():
            continue
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo)
        if now - modified > ORPHAN_UPLOAD_AGE:
            storage.remove_quietly(path)
