"""Parsing the API's JSON into typed results: lenient on additions, strict on promises."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from textfromtrack_client import Job, JobPage, Me, Segments, Submission

# The spec's own examples, plus the fields this server adds.
JOB: dict[str, Any] = {
    "job_id": "f0c7e2d4",
    "status": "done",
    "filename": "track.mp3",
    "language": "en",
    "duration_seconds": 187.3,
    "segment_count": 42,
    "credits_charged": 1,
    "model": "whisper-1",
    "degraded": False,
    "vocal_separation_used": True,
    "attempts": 2,
    "runtime_seconds": 12.4,
    "created_at": "2026-05-08T10:00:00Z",
    "completed_at": "2026-05-08T10:00:13Z",
    "attempts_log": [
        {"attempt": 1, "pipeline": "standard", "verdict": "poor", "quality": {"reasons": ["x"]}},
        {"attempt": 2, "pipeline": "vintage", "separator": "spleeter-2stems", "seconds": 3.5},
    ],
}


def test_a_job_as_the_spec_shows_it() -> None:
    job = Job.from_dict(JOB)
    assert job.completed_at == datetime(2026, 5, 8, 10, 0, 13, tzinfo=UTC)
    assert job.progress == 1.0  # absent from the spec's example: done means complete
    assert job.retried_with_vocal_separation and job.finished
    assert [a.pipeline for a in job.attempts_log] == ["standard", "vintage"]
    assert job.attempts_log[0].quality == {"reasons": ["x"]}
    assert job.attempts_log[1].separator == "spleeter-2stems"
    assert job.vintage_mode is False and job.error is None


def test_new_fields_are_ignored_and_kept_in_raw() -> None:
    job = Job.from_dict({**JOB, "shiny_new_field": 1, "status": "archived"})
    assert job.raw["shiny_new_field"] == 1
    assert job.status == "archived" and not job.finished


@pytest.mark.parametrize(
    "change",
    [
        {"job_id": None},
        {"duration_seconds": "long"},
        {"credits_charged": True},
        {"degraded": "no"},
        {"attempts_log": "none"},
        {"created_at": "yesterday"},
    ],
)
def test_broken_promises_raise(change: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        Job.from_dict({**JOB, **change})


def test_a_missing_promised_field_raises() -> None:
    with pytest.raises(KeyError):
        Job.from_dict({k: v for k, v in JOB.items() if k != "filename"})


def test_the_other_shapes() -> None:
    sub = Submission.from_dict(
        {
            "job_id": "j",
            "status": "pending",
            "credits_quoted": 1,
            "duration_seconds": 187.3,
            "vintage_mode": False,
        }
    )
    assert sub.credits_quoted == 1
    segs = Segments.from_dict(
        {
            "job_id": "j",
            "language": "fr",
            "duration_seconds": 8.5,
            "segments": [
                {"index": 0, "start": 0.0, "end": 4.2, "text": "Première ligne…"},
                {"index": 1, "start": 4.2, "end": 8.5, "text": "Deuxième ligne…"},
            ],
        }
    )
    assert segs.text == "Première ligne…\nDeuxième ligne…"
    page = JobPage.from_dict({"page": 1, "per_page": 50, "total": 173, "transcriptions": [JOB]})
    assert page.has_next and page.transcriptions[0].job_id == "f0c7e2d4"
    assert not JobPage.from_dict(
        {"page": 4, "per_page": 50, "total": 173, "transcriptions": []}
    ).has_next
    me = Me.from_dict(
        {
            "user_id": "u",
            "email": "you@example.com",
            "credit_balance": 47,
            "top_up_url": "https://app.textfromtrack.com/",
            "scopes_granted": ["transcriptions:read", "transcriptions:write"],
        }
    )
    assert me.credit_balance == 47 and me.scopes_granted[1] == "transcriptions:write"
