"""A live `tft serve` runs its inline jobs in a child process (TFT_INLINE_ISOLATION=process,
the default): the child survives between jobs, a child killed under a job fails that job
with a refund and no leftover files, the next job gets a fresh child, and a child whose
server was killed exits instead of decoding for nobody."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from live import LiveServer, live_server

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "en"
CLIP = SPEECH / "librispeech_test-clean_1995-1837-0001.wav"  # 17 s: long enough to kill under
SHORT = SPEECH / "librispeech_test-clean_2830-3980-0043.wav"  # 2 s
STARTED = re.compile(r"transcription process (\d+) started")

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason="../shared/testdata is absent")


def _submit(server: LiveServer, token: str, clip: Path = SHORT) -> str:
    r = httpx.post(
        f"{server.api}/transcriptions",
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (clip.name, clip.read_bytes(), "audio/wav")},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["job_id"])


def _job(server: LiveServer, token: str, job_id: str) -> dict[str, Any]:
    r = httpx.get(
        f"{server.api}/transcriptions/{job_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _wait(server: LiveServer, token: str, job_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = _job(server, token, job_id)
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def _children(server: LiveServer) -> list[int]:
    return [int(pid) for pid in STARTED.findall(server.log())]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _balance(server: LiveServer, token: str) -> int:
    r = httpx.get(f"{server.api}/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return int(r.json()["credit_balance"])


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _parent_of(pid) is None:
            return True
        time.sleep(0.1)
    return False


def test_jobs_run_in_a_child_whose_death_fails_the_job_and_which_dies_with_its_server(
    tmp_path: Path, model_cache: Path
) -> None:
    env = {"TFT_SIGNUP_CREDITS": "5", "TFT_INLINE_ISOLATION": "process"}  # live.py's is thread
    with live_server(tmp_path, model_cache, env) as server:
        token = server.new_token()
        assert _children(server) == []  # no child before the first job
        first = _wait(server, token, _submit(server, token), {"done", "error"})
        assert first["status"] == "done", first
        assert first["segment_count"] > 0, first
        [child] = _children(server)
        assert child != server.process.pid
        assert _parent_of(child) == server.process.pid  # and still there, for the next job

        balance = _balance(server, token)
        job_id = _submit(server, token, CLIP)
        _wait(server, token, job_id, {"processing"})
        os.kill(child, signal.SIGKILL)
        failed = _wait(server, token, job_id, {"done", "error"})
        assert failed["status"] == "error", failed
        assert "transcription process stopped" in failed["error"], failed
        assert "refunded" in failed["error"], failed
        assert _balance(server, token) == balance  # charged at submit, refunded now
        # The failed job's upload went with it (the only one there was).
        assert not [f for f in (server.data_dir / "uploads").rglob("*") if f.is_file()]

        again = _wait(server, token, _submit(server, token), {"done", "error"})
        assert again["status"] == "done", again
        first_child, fresh = _children(server)  # one new child, for this job
        assert first_child == child and fresh != child
        assert _parent_of(fresh) == server.process.pid

        # A server killed outright cannot stop its child: the child sees it gone and exits
        # (it checks its parent each second) rather than decode for nobody.
        server.process.kill()
        server.process.wait(timeout=10)
        assert _gone(fresh, 10), f"child {fresh} outlived its server"
