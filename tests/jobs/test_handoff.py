"""A job whose first attempt was handed to the vintage queue, as the API and the
maintenance passes see it: cancelled, failed or recovered, it keeps nothing of it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from jobs.conftest import assert_ledger_consistent
from jobs.test_submit import URL, balance, post_file
from support import Account, bearer, make_token
from textfromtrack.db import Database
from textfromtrack.jobs import stages
from textfromtrack.jobs.models import Job, JobSegment, JobStatus
from textfromtrack.queue import routing

FIRST = {
    "attempt": 1,
    "pipeline": "standard",
    "engine": "faster-whisper",
    "model": "whisper-base",
    "separator": None,
    "seconds": 1.0,
    "stages": {"recognise": 1.0},
    "language": "es",
    "quality": {"score": 0.9, "poor": False, "reasons": [], "metrics": {"usable_words": 3}},
    "verdict": "passed",
    "why": "music: the voice detector kept 0.30 of 90 voiced seconds (below 0.70); "
    "retried in music mode",
    "handed_off": True,
}


def _hand_off(db: Database, job_id: str) -> None:
    """What processing._store_first_attempt leaves: pending, its lines, its entry."""
    with db.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(stage="retrying", progress=0.5, attempts=1, attempts_log=[FIRST])
        )
        s.add(JobSegment(job_id=job_id, index=0, start=1.0, end=2.0, text="la la", words=[]))


def _segments(db: Database, job_id: str) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(JobSegment).where(JobSegment.job_id == job_id)
            )
            or 0
        )


def test_a_handed_off_job_goes_to_the_vintage_queue(
    client: TestClient, account: Account, audio_dir: Path, database: Database
) -> None:
    token = str(make_token(client, account)["token"])
    job_id = post_file(client, token, audio_dir / "tone.wav").json()["job_id"]
    assert routing.queue_of_job(database, job_id) == routing.STANDARD
    _hand_off(database, job_id)
    assert routing.queue_of_job(database, job_id) == routing.VINTAGE
    polled = client.get(f"{URL}/{job_id}", headers=bearer(token)).json()
    assert polled["status"] == "pending" and polled["attempts"] == 1
    assert polled["attempts_log"][0]["handed_off"] is True
    # Its lines are nobody's to read before it is done.
    assert client.get(f"{URL}/{job_id}/segments", headers=bearer(token)).status_code == 409


def test_cancelling_it_keeps_nothing_and_refunds(
    client: TestClient, account: Account, audio_dir: Path, database: Database
) -> None:
    token = str(make_token(client, account)["token"])
    job_id = post_file(client, token, audio_dir / "tone.wav").json()["job_id"]
    _hand_off(database, job_id)
    assert _segments(database, job_id) == 1
    r = client.delete(f"{URL}/{job_id}", headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert _segments(database, job_id) == 0
    assert balance(database, account.user_id) == 10
    assert_ledger_consistent(database)


def test_the_mark_is_read_only_while_the_job_runs() -> None:
    log = [FIRST]
    assert stages.is_handed_off(False, JobStatus.PENDING, log)
    assert stages.is_handed_off(False, JobStatus.PROCESSING, log)
    assert not stages.is_handed_off(False, JobStatus.DONE, log)
    assert not stages.is_handed_off(True, JobStatus.PENDING, log)  # asked for music mode
    assert not stages.is_handed_off(False, JobStatus.PENDING, [{**FIRST, "handed_off": False}])
    assert not stages.is_handed_off(False, JobStatus.PENDING, [])
    assert not stages.is_handed_off(False, JobStatus.PENDING, None)
