from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from audio import write_tone
from textfromtrack.credits import service as credits
from textfromtrack.credits.models import CreditEntry
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job, JobStatus


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    write_tone(folder / "tone.wav", 3.0)
    write_tone(folder / "tone.mp3", 3.0)
    write_tone(folder / "tone.flac", 3.0)
    write_tone(folder / "exactly600.flac", 600.0, rate=8000)
    write_tone(folder / "long.flac", 601.0, rate=8000)
    (folder / "empty.mp3").write_bytes(b"")
    (folder / "text.mp3").write_bytes(b"this is not audio at all\n" * 100)
    (folder / "wav_named.mp3").write_bytes((folder / "tone.wav").read_bytes())
    (folder / "tone.txt").write_bytes((folder / "tone.wav").read_bytes())
    return folder


def assert_ledger_consistent(db: Database) -> None:
    """Balances equal their ledgers, and each job's charge matches its fate."""
    with db.session() as s:
        users = {e.user_id for e in s.scalars(select(CreditEntry))}
        for user_id in users:
            total = sum(
                e.amount
                for e in s.scalars(select(CreditEntry).where(CreditEntry.user_id == user_id))
            )
            assert credits.balance(s, user_id) == total
        for job in s.scalars(select(Job)):
            refunded = job.status == JobStatus.ERROR or (
                job.status == JobStatus.CANCELLED and job.started_at is None
            )
            assert credits.is_charged(s, job.id) is (not refunded), (job.id, job.status)


def uploads(settings_data_dir: Path) -> list[Path]:
    folder = settings_data_dir / "uploads"
    return sorted(folder.iterdir()) if folder.is_dir() else []
