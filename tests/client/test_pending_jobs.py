"""Listing, paging, waiting and cancelling, on a real server whose jobs stay pending."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from textfromtrack_client import JobFailed, TextFromTrack, WaitTimeout

from live import LiveServer


def test_pages_and_iteration(idle_server: LiveServer, tone: Path) -> None:
    with TextFromTrack(idle_server.new_token(extra_credits=5), idle_server.api) as tft:
        # Two pending at most per account: cancel them as we go to make five jobs.
        ids = []
        for _ in range(5):
            ids.append(tft.submit(tone).job_id)
            if len(ids) > 1:
                tft.delete(ids[-2])
        newest_first = ids[::-1]
        try:
            page = tft.list(page=2, per_page=2)
            assert (page.page, page.per_page, page.total) == (2, 2, 5)
            assert [j.job_id for j in page.transcriptions] == newest_first[2:4]
            assert page.has_next and not tft.list(page=3, per_page=2).has_next
            assert [j.job_id for j in tft.iter_jobs(per_page=2)] == newest_first
            assert [j.job_id for j in tft.iter_jobs(status="cancelled")] == newest_first[1:]
            assert [j.job_id for j in tft.iter_jobs(status="pending")] == newest_first[:1]
            assert tft.list(status="done").transcriptions == ()
            assert tft.me().credit_balance == 4  # the four cancelled while pending were refunded
        finally:
            tft.delete(ids[-1])


def test_wait_times_out_on_a_job_that_does_not_start(idle_server: LiveServer, tone: Path) -> None:
    with TextFromTrack(idle_server.new_token(extra_credits=1), idle_server.api) as tft:
        job_id = tft.submit(tone).job_id
        try:
            started = time.monotonic()
            with pytest.raises(WaitTimeout) as raised:
                tft.wait(job_id, timeout=1.0, poll_interval=0.3)
            assert 1.0 <= time.monotonic() - started < 5
            assert raised.value.job.job_id == job_id and raised.value.job.status == "pending"
        finally:
            tft.delete(job_id)


def test_wait_raises_job_failed_when_the_job_is_cancelled(
    idle_server: LiveServer, tone: Path
) -> None:
    with TextFromTrack(idle_server.new_token(extra_credits=1), idle_server.api) as tft:
        job_id = tft.submit(tone).job_id
        # Cancelled from elsewhere (the web app, another script) while we wait.
        canceller = threading.Timer(0.5, tft.delete, args=(job_id,))
        canceller.start()
        try:
            with pytest.raises(JobFailed) as raised:
                tft.wait(job_id, timeout=30, poll_interval=0.2)
        finally:
            canceller.join()
    assert raised.value.code == "job_cancelled"
    assert raised.value.job.status == "cancelled" and raised.value.job.credits_charged == 0
