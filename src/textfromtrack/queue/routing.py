"""Which queue a job goes to: music mode (separation, the large model) on ``vintage``,
everything else on ``standard``, so a fleet can give each its own kind of machine. A
standard job judged to need music mode records its first attempt and continues on
``vintage`` (``processing.HandOff``)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select

from textfromtrack.db import Database
from textfromtrack.jobs.models import Job
from textfromtrack.jobs.stages import is_handed_off

STANDARD: Final = "standard"
VINTAGE: Final = "vintage"
QUEUES: Final = (STANDARD, VINTAGE)


def queue_for(vintage: bool) -> str:
    return VINTAGE if vintage else STANDARD


def queue_of_job(db: Database, job_id: str) -> str:
    """The queue for a stored job (standard when it is gone: its message is then a no-op).

    A standard job whose first attempt was handed off continues on ``vintage`` too
    (``processing.is_handed_off``).
    """
    with db.session() as s:
        row = s.execute(
            select(Job.vintage, Job.status, Job.attempts_log).where(Job.id == job_id)
        ).one_or_none()
    if row is None:
        return STANDARD
    vintage, status, attempts_log = row
    return queue_for(bool(vintage) or is_handed_off(bool(vintage), status, attempts_log))


def broker_queue_name(prefix: str, queue: str) -> str:
    """The name on the broker: ``<prefix>.<queue>``, or the bare name without a prefix."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    return f"{prefix}.{queue}" if prefix else queue
