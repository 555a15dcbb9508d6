"""Live job events (server-sent events): order, the final event, auth, others' jobs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support import assert_envelope, bearer, make_account, make_token
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs import events, processing
from textfromtrack.pipeline import runner
from textfromtrack.pipeline.engines.base import AudioInput, ProgressCallback, TranscribeOptions
from textfromtrack.pipeline.separation.base import SeparationProgress, StereoAudio
from textfromtrack.pipeline.types import Transcript
from web.conftest import GOOD_LINES, LOOP_LINES, Browser, FakeEngine, FakeSeparator


def parse(body: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body; comments and retry skipped."""
    out: list[tuple[str, Any]] = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if "event" in fields:
            out.append((fields["event"], json.loads(fields["data"])))
    return out


class SlowEngine(FakeEngine):
    """Takes long enough per attempt for a stream polling every 20 ms to see each stage."""

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        time.sleep(0.3)
        return super().transcribe(audio, options, progress)


class SlowSeparator(FakeSeparator):
    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        time.sleep(0.2)
        return audio


@pytest.fixture(autouse=True)
def _fast_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "POLL_SECONDS", 0.02)


def _run_in_background(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    job_id: str,
    after_a_stream_read: bool = True,
) -> threading.Thread:
    engines = runner.Engines(
        standard=lambda: SlowEngine("fake-standard", LOOP_LINES),
        vintage=lambda: SlowEngine("fake-vintage", GOOD_LINES),
        separator=lambda: SlowSeparator(),
    )
    monkeypatch.setattr(processing, "engines", lambda _settings: engines)
    # The worker starts once a stream has sent its first event, so the stream shows the
    # job pending first: a fixed head start of 0.2 s was not always enough in a loaded
    # suite.
    sent = threading.Event()
    sse = events.sse

    def sse_then_signal(event: str, data: dict[str, Any]) -> bytes:
        try:
            return sse(event, data)
        finally:
            sent.set()

    monkeypatch.setattr(events, "sse", sse_then_signal)

    def work() -> None:
        if after_a_stream_read:
            sent.wait(10)
        processing.process_job(database, settings, job_id, "test-worker")

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_retried_job_streams_stages_and_attempts_in_order_then_ends(
    browser: Browser,
    tone: Path,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    thread = _run_in_background(database, settings, monkeypatch, job_id)
    r = browser.client.get(f"/api/web/jobs/{job_id}/events")
    thread.join(10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    got = parse(r.text)
    kinds = [k for k, _ in got]
    # The end is last and only once; statuses come before it.
    assert kinds[-1] == "end" and kinds.count("end") == 1
    assert kinds[0] == "status" and got[0][1]["status"] == "pending"
    end = got[-1][1]
    assert end["status"] == "done" and end["attempts"] == 2 and end["stage"] is None
    assert [a["verdict"] for a in end["attempts_log"]] in (
        ["rejected", "accepted"],
        ["accepted", "rejected"],
    )
    # Attempt 1 (poor) arrives as it finishes, while the job still runs.
    first = next(d for k, d in got if k == "attempt")
    assert first["attempt"] == 1 and first["verdict"] == "poor"
    assert kinds.index("attempt") < kinds.index("end")
    stages = [d["stage"] for k, d in got if k == "status" and d["stage"]]
    # Recognising on the mix, then the retry in music mode: separating the vocals.
    assert "recognising" in stages and "separating" in stages
    assert stages.index("recognising") < stages.index("separating")
    retrying = [d for k, d in got if k == "status" and d["retrying"]]
    assert retrying and all(d["status"] == "processing" for d in retrying)
    # The poll shows the same log.
    job = browser.client.get(f"/api/web/jobs/{job_id}").json()
    assert len(job["attempts_log"]) == 2


def test_attempts_log_grows_while_the_job_runs(
    browser: Browser,
    tone: Path,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    thread = _run_in_background(database, settings, monkeypatch, job_id, after_a_stream_read=False)
    seen: list[tuple[str, int, str | None]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = browser.client.get(f"/api/web/jobs/{job_id}").json()
        seen.append((job["status"], len(job["attempts_log"]), job["stage"]))
        if job["status"] == "done":
            break
        time.sleep(0.02)
    thread.join(10)
    assert ("processing", 1, "separating") in seen or ("processing", 1, "recognising") in seen


def test_a_finished_job_sends_only_its_end(browser: Browser, tone: Path, run_job: Any) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    run_job(job_id)
    got = parse(browser.client.get(f"/api/web/jobs/{job_id}/events").text)
    assert [k for k, _ in got] == ["end"]
    assert got[0][1]["status"] == "done" and got[0][1]["attempts_log"][0]["verdict"] == "accepted"


def test_the_list_stream_follows_active_jobs_then_goes_idle(
    browser: Browser, tone: Path, run_job: Any
) -> None:
    assert [k for k, _ in parse(browser.client.get("/api/web/jobs/events").text)] == ["idle"]
    job_id = browser.upload(tone).json()["job_id"]
    # A job that ends while nobody watches: the stream shows nothing of it but idle.
    run_job(job_id)
    assert [k for k, _ in parse(browser.client.get("/api/web/jobs/events").text)] == ["idle"]


def test_the_list_stream_sends_each_change_and_the_final_one(
    browser: Browser,
    tone: Path,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    thread = _run_in_background(database, settings, monkeypatch, job_id)
    got = parse(browser.client.get("/api/web/jobs/events").text)
    thread.join(10)
    assert got[-1][0] == "idle"
    statuses = [d["status"] for k, d in got if k == "job" and d["job_id"] == job_id]
    assert statuses[0] == "pending" and statuses[-1] == "done"
    assert "processing" in statuses


def test_v1_events_take_a_token_and_hide_others_jobs(
    client: TestClient, browser: Browser, tone: Path, run_job: Any
) -> None:
    job_id = browser.upload(tone).json()["job_id"]
    run_job(job_id)
    owner_jwt = client.post(
        "/api/auth/login", json={"email": browser.email, "password": "correct horse battery staple"}
    ).json()["access_token"]
    cookies = dict(client.cookies)
    client.cookies.clear()
    owner = make_token(client, _account(browser.email, owner_jwt))["token"]
    url = f"/api/v1/transcriptions/{job_id}/events"
    r = client.get(url, headers=bearer(owner))
    assert r.status_code == 200 and [k for k, _ in parse(r.text)] == ["end"]
    # No credential, or the web session instead of a token: 401 envelopes.
    assert_envelope(client.get(url), 401, "unauthorized")
    assert_envelope(
        client.get(url, headers={"Authorization": f"Bearer {owner_jwt}"}), 401, "unauthorized"
    )
    # Another user's job is indistinguishable from none, on both surfaces.
    other = make_account(client)
    other_token = make_token(client, other)["token"]
    assert_envelope(client.get(url, headers=bearer(other_token)), 404, "not_found")
    missing = "/api/v1/transcriptions/00000000-0000-4000-8000-000000000000/events"
    assert_envelope(client.get(missing, headers=bearer(owner)), 404, "not_found")
    assert_envelope(
        client.get(f"/api/web/jobs/{job_id}/events", headers=other.web), 404, "not_found"
    )
    # The web stream takes only the session, never a token.
    assert_envelope(
        client.get(f"/api/web/jobs/{job_id}/events", headers=bearer(owner)), 401, "unauthorized"
    )
    client.cookies.update(cookies)


def _account(email: str, jwt: str) -> Any:
    from support import Account

    return Account(email=email, user_id="", jwt=jwt)
