"""Chaos: `tft serve` killed with SIGKILL while jobs upload, process and finish.

Several rounds on one data dir and database: start the server, send complete and
half-sent uploads, let the real worker run the real model, then kill -9 at a moment
drawn from a fixed seed. After a last, clean start every job must be final, every
ledger balanced, and the data dir must hold no file that no live job owns.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from audio import write_tone
from jobs.conftest import assert_ledger_consistent
from live import LiveServer, live_server
from textfromtrack.db import Database
from textfromtrack.jobs.models import ACTIVE_STATUSES, Job

ROUNDS = 4
SEED = 20261201
ENV = {
    "TFT_TRUSTED_PROXIES": "127.0.0.1",
    "TFT_SIGNUP_CREDITS": "50",
    "TFT_HEARTBEAT_SECONDS": "1",
    "TFT_MAX_ACTIVE_JOBS_PER_USER": "3",
    "TFT_MAX_ACTIVE_JOBS_PER_IP": "3",
}
# What the data dir may hold besides files that live jobs own.
DATABASE_FILES = {
    "tft.db",
    "tft.db-wal",
    "tft.db-shm",
    "tft.db.maintenance.lock",
    "tft.db.migrate.lock",
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("chaos-audio")
    return [
        write_tone(folder / f"tone{n}.wav", 4.0 + 3 * n, freq=220.0 * (n + 1)) for n in range(3)
    ]


def _submit(server: LiveServer, token: str, address: str, clip: Path) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server was killed under it
        httpx.post(
            f"{server.api}/transcriptions",
            headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
            files={"file": (clip.name, clip.read_bytes())},
            timeout=30,
        )


def _slow_submit(server: LiveServer, token: str, address: str, clip: Path) -> None:
    """An upload that is still arriving when the server dies."""
    data = clip.read_bytes()
    boundary = "chaosboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{clip.name}"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        for start in range(0, len(data), 16 * 1024):
            yield data[start : start + 16 * 1024]
            time.sleep(0.05)
        yield tail

    with contextlib.suppress(httpx.HTTPError):
        httpx.post(
            f"{server.api}/transcriptions",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Forwarded-For": address,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
            content=body(),
            timeout=30,
        )


def _data_dir_files(data_dir: Path) -> set[str]:
    return {
        str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file()
    } - DATABASE_FILES


def _owned_files(db: Database) -> set[str]:
    with db.session() as s:
        names = s.scalars(select(Job.upload_name).where(Job.upload_name.is_not(None)))
        return {f"uploads/{name}" for name in names}


def test_kill_minus_nine_loses_nothing_and_leaves_nothing(
    tmp_path: Path, model_cache: Path, clips: list[Path]
) -> None:
    rng = random.Random(SEED)
    tokens: list[str] = []
    for round_no in range(ROUNDS):
        with live_server(tmp_path, model_cache, ENV) as server:
            if not tokens:
                tokens = [server.new_token() for _ in range(3)]
            threads = []
            for n, token in enumerate(tokens):
                address = f"10.7.{n}.1"
                target = _slow_submit if (round_no + n) % 3 == 0 else _submit
                clip = clips[rng.randrange(len(clips))]
                threads.append(threading.Thread(target=target, args=(server, token, address, clip)))
            for thread in threads:
                thread.start()
                time.sleep(rng.uniform(0.0, 0.4))
            time.sleep(rng.uniform(0.5, 4.0))
            server.process.kill()  # SIGKILL: no shutdown, no clean-up
            server.process.wait(timeout=10)
            for thread in threads:
                thread.join(timeout=30)

    # The last start: recovery puts dead workers' jobs back, the start-up sweep removes
    # what dead processes left, and the worker finishes everything that is left.
    with live_server(tmp_path, model_cache, ENV) as server:
        db = Database(server.env["TFT_DATABASE_URL"])
        try:
            deadline = time.monotonic() + 240
            while True:
                with db.session() as s:
                    active = s.scalars(select(Job.id).where(Job.status.in_(ACTIVE_STATUSES))).all()
                leftovers = _data_dir_files(server.data_dir) - _owned_files(db)
                if not active and not leftovers:
                    break
                assert time.monotonic() < deadline, (active, leftovers, server.log()[-4000:])
                time.sleep(0.5)
            with db.session() as s:
                jobs = list(s.scalars(select(Job)))
            assert jobs, "no job was ever admitted: the scenario tested nothing"
            statuses = {j.status.value for j in jobs}
            assert statuses <= {"done", "error", "cancelled"}, statuses
            assert_ledger_consistent(db)
            assert _owned_files(db) == set()  # final jobs own no upload
            assert _data_dir_files(server.data_dir) == set()
            print(
                {
                    "rounds": ROUNDS,
                    "jobs": len(jobs),
                    "done": sum(j.status.value == "done" for j in jobs),
                    "error": sum(j.status.value == "error" for j in jobs),
                    "max_claims": max(j.claims for j in jobs),
                }
            )
        finally:
            db.dispose()
