"""Which queue a job goes to: music mode (separation, the large model) on ``vintage``,
everything else on ``standard``, so a fleet can give each its own kind of machine."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select

from textfromtrack.db import Database
from textfromtrack.jobs.models import Job

STANDARD: Final = "standard"
VINTAGE: Final = "vintage"
QUEUES: Final = (STANDARD, VINTAGE)


def queue_for(vintage: bool) -> str:
    return VINTAGE if vintage else STANDARD


def queue_of_job(db: Database, job_id: str) -> str:
    """The queue for a stored job (standard when it is gone: its message is then a no-op)."""
    with db.session() as s:
        vintage = s.scalar(select(Job.vintage).where(Job.id == job_id))
    return queue_for(bool(vintage))


def broker_queue_name(prefix: str, queue: str) -> str:
    """The name on the broker: ``<prefix>.<queue>``, or the bare name without a prefix."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    return f"{prefix}.{queue}" if prefix else queue
