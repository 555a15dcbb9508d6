"""The scale-out path for real: two `tft serve` and `tft worker` processes on one
database and one data dir, Dramatiq on the machine's Redis or RabbitMQ.

A worker killed with SIGKILL mid-job loses nothing (the maintenance role puts the job
back, another worker finishes it); a message lost because the broker was unreachable at
submit time is sent again by the reconciler; vintage jobs travel on their own queue.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tft_fleet import (
    AMQP_URL,
    BROKER_QUEUE_SUFFIXES,
    REDIS_URL,
    closed_port,
    reachable,
    start_worker,
    tft_workers,
)

from audio import TESTDATA, write_tone
from conftest import BACKENDS
from jobs.conftest import assert_ledger_consistent
from live import LiveServer, live_server
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job, JobStatus

FINAL = {JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED}
HOLDER_LINE = "maintenance role: held by this process"


# Each test has a queue prefix of its own, so parallel test workers (and other runs on
# this machine) never take each other's messages; its keys and queues go afterwards.
@pytest.fixture
def queue_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_url(queue_prefix: str) -> Iterator[str]:
    if not reachable(REDIS_URL, 6379):
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    yield REDIS_URL
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"*{queue_prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def amqp_url(queue_prefix: str) -> Iterator[str]:
    if not reachable(AMQP_URL, 5672):
        pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL}")
    yield AMQP_URL
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for queue in ("standard", "vintage"):
            for suffix in BROKER_QUEUE_SUFFIXES:
                channel.queue_delete(f"{queue_prefix}.{queue}{suffix}")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fleet-audio")
    speech = TESTDATA / "en" / "jfk_whisper.flac"
    return {
        "tone": write_tone(folder / "tone.wav", 3.0),
        "tone2": write_tone(folder / "tone2.flac", 2.0, freq=330.0),
        # Long enough that the worker is caught mid-job (the first job also loads the model).
        "long": speech if speech.is_file() else write_tone(folder / "long.wav", 20.0),
    }


def _env(
    tmp_path: Path, database_url: str, broker_url: str, prefix: str, **more: str
) -> dict[str, str]:
    return {
        "TFT_DATABASE_URL": database_url,
        # Storage is still the data dir: every process on this machine shares it.
        "TFT_DATA_DIR": str(tmp_path / "shared-data"),
        "TFT_BROKER_URL": broker_url,
        "TFT_QUEUE_PREFIX": prefix,
        "TFT_TRUSTED_PROXIES": "127.0.0.1",
        "TFT_HEARTBEAT_SECONDS": "0.5",
        "TFT_HEARTBEAT_TIMEOUT_SECONDS": "6",
        "TFT_RECONCILE_GRACE_SECONDS": "3",
        "TFT_WHISPER_CPU_THREADS": "1",
        **more,
    }


def _submit(server: LiveServer, token: str, address: str, clip: Path, **form: str) -> str:
    r = httpx.post(
        f"{server.api}/transcriptions",
        headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
        files={"file": (clip.name, clip.read_bytes())},
        data=form,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["job_id"])


def _jobs(db: Database) -> dict[str, Job]:
    with db.session() as s:
        return {job.id: job for job in s.scalars(select(Job))}


def _wait_final(db: Database, ids: list[str], timeout: float, logs: Iterator[str] | None = None):
    deadline = time.monotonic() + timeout
    while True:
        jobs = _jobs(db)
        if all(jobs[i].status in FINAL for i in ids):
            return jobs
        if time.monotonic() > deadline:
            states = {i: (jobs[i].status.value, jobs[i].worker_id) for i in ids}
            raise AssertionError(f"jobs not final: {states}\n" + "\n".join(logs or []))
        time.sleep(0.3)


def _holders(servers: list[LiveServer]) -> int:
    return sum(HOLDER_LINE in s.log() for s in servers)


def _fleet_lifecycle(
    tmp_path: Path, model_cache: Path, clips: dict[str, Path], env: Mapping[str, str]
) -> None:
    db = Database(env["TFT_DATABASE_URL"])
    with ExitStack() as stack:
        # One after the other: the first start migrates the (empty) database.
        s1 = stack.enter_context(live_server(tmp_path / "serve-1", model_cache, env))
        s2 = stack.enter_context(live_server(tmp_path / "serve-2", model_cache, env))
        workers = stack.enter_context(tft_workers(tmp_path / "workers", s1.env, 2))
        logs = lambda: [s.log()[-3000:] for s in (s1, s2)] + [w.log()[-3000:] for w in workers]  # noqa: E731
        tokens = [s1.new_token() for _ in range(3)]
        ids = [_submit(s1, tokens[0], "10.1.0.1", clips["long"])]

        # Catch the first job mid-run and kill the worker process that holds it.
        deadline = time.monotonic() + 120
        while True:
            job = _jobs(db)[ids[0]]
            if job.status == JobStatus.PROCESSING and job.worker_id:
                break
            assert job.status not in FINAL, f"finished before it could be killed: {job.status}"
            assert time.monotonic() < deadline, logs()
            time.sleep(0.05)
        victim = int(job.worker_id.split(":")[1])
        os.kill(victim, signal.SIGKILL)  # the Dramatiq worker process of one of our workers

        ids += [
            _submit(s2, tokens[0], "10.1.0.1", clips["tone"]),
            _submit(s1, tokens[1], "10.1.0.2", clips["tone2"]),
            _submit(s2, tokens[1], "10.1.0.2", clips["tone"], vintage="true"),
            _submit(s2, tokens[2], "10.1.0.3", clips["tone2"]),
            _submit(s1, tokens[2], "10.1.0.3", clips["tone"]),
        ]
        jobs = _wait_final(db, ids, 300, iter(logs()))
        assert {jobs[i].status for i in ids} == {JobStatus.DONE}, {
            i: (jobs[i].status, jobs[i].error) for i in ids
        }
        killed = jobs[ids[0]]
        assert killed.claims >= 2 and str(victim) not in (killed.worker_id or "")
        assert jobs[ids[3]].vintage and jobs[ids[3]].vocal_separation_used
        # Both servers took work; exactly one ran maintenance.
        assert _holders([s1, s2]) == 1, logs()
        assert "put back to pending" in s1.log() + s2.log()
        assert_ledger_consistent(db)
    db.dispose()


@pytest.mark.slow
def test_fleet_on_redis_survives_a_killed_worker(
    tmp_path: Path,
    model_cache: Path,
    clips: dict[str, Path],
    database_url: str,
    redis_url: str,
    queue_prefix: str,
) -> None:
    env = _env(tmp_path, database_url, redis_url, queue_prefix)
    _fleet_lifecycle(tmp_path, model_cache, clips, env)


# Once on RabbitMQ, on the strongest backend this run has (PostgreSQL when configured).
@pytest.mark.slow
@pytest.mark.parametrize("database_url", [BACKENDS[-1]], indirect=True)
def test_fleet_on_rabbitmq_survives_a_killed_worker(
    tmp_path: Path,
    model_cache: Path,
    clips: dict[str, Path],
    database_url: str,
    amqp_url: str,
    queue_prefix: str,
) -> None:
    env = _env(tmp_path, database_url, amqp_url, queue_prefix)
    _fleet_lifecycle(tmp_path, model_cache, clips, env)


def test_message_lost_at_submit_is_sent_again_by_the_reconciler(
    tmp_path: Path,
    model_cache: Path,
    clips: dict[str, Path],
    database_url: str,
    redis_url: str,
    queue_prefix: str,
) -> None:
    env = _env(tmp_path, database_url, redis_url, queue_prefix)
    # The second server's broker is unreachable: its sends fail, the job stays pending.
    # Ready all the same (the test waits for /readyz): its uploads stay pending for the
    # reconciler, which is what this test is about.
    broken = {
        **env,
        "TFT_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "TFT_READY_NEEDS_BROKER": "false",
    }
    db = Database(database_url)
    with (
        live_server(tmp_path / "serve-ok", model_cache, env) as holder,
        live_server(tmp_path / "serve-broken", model_cache, broken) as other,
        tft_workers(tmp_path / "workers", holder.env, 1) as workers,
    ):
        token = holder.new_token()
        job_id = _submit(other, token, "10.2.0.1", clips["tone"])
        submitted = time.monotonic()
        jobs = _wait_final(db, [job_id], 120, iter([holder.log(), other.log(), workers[0].log()]))
        assert jobs[job_id].status == JobStatus.DONE
        # Not before the grace period: it was the reconciler, not the lost message.
        assert time.monotonic() - submitted >= 3
        assert "could not send its message" in other.log()
        assert "reconciler: sent 1 pending job(s)" in holder.log()
        assert HOLDER_LINE in holder.log() and HOLDER_LINE not in other.log()
        assert_ledger_consistent(db)
    db.dispose()


def test_vintage_jobs_travel_on_the_vintage_queue(
    tmp_path: Path, model_cache: Path, clips: dict[str, Path], redis_url: str, queue_prefix: str
) -> None:
    env = _env(
        tmp_path, f"sqlite:///{tmp_path / 'shared-data' / 'tft.db'}", redis_url, queue_prefix
    )
    env["TFT_RECONCILE_GRACE_SECONDS"] = "600"  # nothing is lost here; keep messages single
    db = Database(env["TFT_DATABASE_URL"])
    with live_server(tmp_path / "serve", model_cache, env) as server:
        token = server.new_token()
        with tft_workers(tmp_path / "std", server.env, 1, "--queues", "standard"):
            speech = _submit(server, token, "10.3.0.1", clips["tone"])
            music = _submit(server, token, "10.3.0.1", clips["tone2"], vintage="true")
            _wait_final(db, [speech], 120)
            time.sleep(2)  # time enough for a wrongly routed message to be taken
            assert _jobs(db)[music].status == JobStatus.PENDING
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            assert client.hlen(f"dramatiq:{queue_prefix}.vintage.msgs") == 1
        finally:
            client.close()
        vintage = start_worker(tmp_path / "vin", server.env, "vintage", "--queues", "vintage")
        try:
            jobs = _wait_final(db, [music], 180, iter([vintage.log()]))
        finally:
            vintage.stop()
        assert jobs[music].status == JobStatus.DONE and jobs[music].vocal_separation_used
    db.dispose()


def test_a_poor_standard_attempt_continues_on_the_vintage_queue(
    tmp_path: Path, model_cache: Path, clips: dict[str, Path], redis_url: str, queue_prefix: str
) -> None:
    """A CPU box runs the standard attempt; judged poor (a voice detector that hears
    nothing empties it), the job records that attempt and waits, pending, for the vintage
    queue; a music box then runs only the music-mode attempt and chooses between both."""
    if not (TESTDATA / "en" / "jfk_whisper.flac").is_file():
        pytest.skip("needs the shared speech clip")
    env = _env(
        tmp_path,
        f"sqlite:///{tmp_path / 'shared-data' / 'tft.db'}",
        redis_url,
        queue_prefix,
        TFT_VAD_THRESHOLD="1.0",
    )
    env["TFT_RECONCILE_GRACE_SECONDS"] = "600"  # one message each way
    db = Database(env["TFT_DATABASE_URL"])
    with live_server(tmp_path / "serve", model_cache, env) as server:
        token = server.new_token()
        with tft_workers(tmp_path / "std", server.env, 1, "--queues", "standard") as (cpu,):
            job_id = _submit(server, token, "10.4.0.1", clips["long"])
            deadline = time.monotonic() + 120
            while True:
                job = _jobs(db)[job_id]
                if job.status == JobStatus.PENDING and job.attempts == 1:
                    break
                assert job.status in (JobStatus.PENDING, JobStatus.PROCESSING), cpu.log()
                assert time.monotonic() < deadline, cpu.log()
                time.sleep(0.3)
            time.sleep(1.5)  # a standard worker must not take it back
            job = _jobs(db)[job_id]
            assert job.status == JobStatus.PENDING and job.stage == "retrying"
            assert job.worker_id is None and job.claims == 0  # the hand-off is no failure
            (first,) = job.attempts_log
            assert first["pipeline"] == "standard" and first["verdict"] == "poor"
            assert first["handed_off"] is True
            assert first["why"].endswith("retried in music mode")
            polled = httpx.get(
                f"{server.api}/transcriptions/{job_id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).json()
            assert polled["status"] == "pending" and polled["attempts"] == 1
        music = start_worker(tmp_path / "vin", server.env, "vintage", "--queues", "vintage")
        try:
            # The worker's log as it is when the wait gives up.
            jobs = _wait_final(db, [job_id], 240, (music.log() for _ in [0]))
        finally:
            music.stop()
        job = jobs[job_id]
        assert job.status == JobStatus.DONE, job.error
        assert job.attempts == 2 and job.vocal_separation_used
        log_first, log_second = job.attempts_log
        assert log_first["verdict"] == "rejected" and log_second["verdict"] == "accepted"
        assert log_first["handed_off"] is True and "handed_off" not in log_second
        assert "kept: most usable words" in log_second["why"]
        assert job_id in music.log()
        text = httpx.get(
            f"{server.api}/transcriptions/{job_id}/export",
            params={"format": "txt"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).text
        assert "country" in text.lower()
        assert_ledger_consistent(db)
    db.dispose()
