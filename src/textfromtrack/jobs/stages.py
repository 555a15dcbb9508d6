"""What a running job is doing, written to its row for the poll and the live events.

The pipeline reports each stage it enters and attempts_log each time an attempt
finishes (``runner.run``'s ``on_stage`` and ``on_attempt``). Both are rare (a handful
per job), so each is one short conditional update, owned like every other write of
a running job: a job cancelled or handed to another worker is not written, and the
pipeline is stopped instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from textfromtrack.db import Database, updated, utcnow
from textfromtrack.jobs.models import Job, JobStatus

# The stages a job can show, in the order a retried job passes them, with the words
# the app uses for each.
STAGES = {
    "decoding": "Decoding the audio",
    "recognising": "Recognising words",
    "separating": "Separating vocals",
    "retrying": "Retrying in music mode",
    "postprocessing": "Post-processing",
}


class StageLost(Exception):
    """The job is no longer this worker's to write (cancelled or reassigned)."""


class StageReporter:
    def __init__(self, db: Database, job_id: str, worker: str) -> None:
        self.db, self.job_id, self.worker = db, job_id, worker

    def _write(self, **values: Any) -> None:
        with self.db.session() as s:
            changed = updated(
                s,
                update(Job)
                .where(
                    Job.id == self.job_id,
                    Job.status == JobStatus.PROCESSING,
                    Job.worker_id == self.worker,
                )
                .values(heartbeat_at=utcnow(), **values),
            )
        if not changed:
            raise StageLost(self.job_id)

    def stage(self, name: str) -> None:
        self._write(stage=name)

    def attempts(self, log: list[dict[str, Any]]) -> None:
        # attempts grows with the log; model stays None until the winner is known.
        self._write(attempts=len(log), attempts_log=log)


def is_handed_off(
    vintage: bool, status: JobStatus, attempts_log: list[dict[str, Any]] | None
) -> bool:
    """Whether a job waits for (or runs) the music-mode attempt of a first attempt that
    another worker ran: its first entry says so and the job is not final."""
    return (
        not vintage
        and status in (JobStatus.PENDING, JobStatus.PROCESSING)
        and bool(attempts_log)
        and attempts_log[0].get("handed_off") is True  # type: ignore[index]
    )
