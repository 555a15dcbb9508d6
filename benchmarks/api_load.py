"""Hot read paths under load: poll, /me and the 200-row list beside a hello-world.

    .venv/bin/python benchmarks/api_load.py [--seconds 10] [--clients 16 64] [--no-job]
        [--isolation process|thread]

Starts a real `tft serve` (SQLite, one inline worker) and a bare FastAPI app with a
sync hello-world endpoint on the same uvicorn settings, then drives each endpoint
with wrk (Debian's `wrk`) at each client count while a 10-minute job is decoding
in the service. Prints JSON: req/s, p50/p99 latency, non-2xx and socket errors per
endpoint and client count, each ratio to hello-world's req/s at the same count, and
the load average before and after. Read the ratios, not the absolute numbers: this
is a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from live import free_port  # noqa: E402
from textfromtrack.accounts.models import User  # noqa: E402, F401 - jobs.user_id's table
from textfromtrack.db import Database, utcnow  # noqa: E402
from textfromtrack.jobs.models import Job, JobStatus  # noqa: E402
from textfromtrack.media.decode import decode_audio  # noqa: E402

TFT = ROOT / ".venv" / "bin" / "tft"
PYTHON = ROOT / ".venv" / "bin" / "python"
TESTDATA = ROOT.parent / "shared" / "testdata"
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway local account
LIST_JOBS = 1000

HELLO_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}
"""


def speech_track(path: Path, seconds: float = 600.0) -> Path:
    """Ten minutes of real speech: the shared English clips, end to end, repeated."""
    clips = sorted((TESTDATA / "en").rglob("*.wav")) + sorted((TESTDATA / "en").rglob("*.flac"))
    if not clips:
        rng = np.random.default_rng(0)
        audio = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    else:
        parts, total = [], 0
        while total < seconds * 16000:
            for clip in clips:
                samples = decode_audio(clip)
                parts.append(samples)
                total += len(samples)
        audio = np.concatenate(parts)[: int(seconds * 16000)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, clients: int, seconds: int, token: str | None) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def latency(label: str) -> float | None:
        found = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)\b", out)
        if not found:
            return None
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return round(float(found.group(1)) * scale, 2)

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "req_per_s": rps,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def tree_memory_mb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in MB of ``pid`` and its children (an inline worker's child process
    included): PSS counts pages shared between them once, RSS counts them in each."""
    pids = [pid]
    # A child is listed under the thread that started it (an inline worker's, not main's).
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    rss = pss = 0
    for one in pids:
        try:
            with open(f"/proc/{one}/smaps_rollup") as fh:
                for line in fh:
                    key, value, *_ = line.split()
                    if key == "Rss:":
                        rss += int(value)
                    elif key == "Pss:":
                        pss += int(value)
        except FileNotFoundError:  # a child that ended meanwhile
            continue
    return rss // 1024, pss // 1024


class PeakMemory:
    """Samples the service's tree twice a second; the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid, self.rss, self.pss = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                rss, pss = tree_memory_mb(self.pid)
            except FileNotFoundError:
                return
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {"peak_rss_mb": self.rss, "peak_pss_mb": self.pss}


def seed_jobs(database_url: str, user_id: str, count: int) -> None:
    db = Database(database_url)
    now = utcnow()
    with db.session() as s:
        s.add_all(
            Job(
                id=str(uuid.uuid4()),
                user_id=user_id,
                status=JobStatus.DONE,
                filename=f"seed-{n}.mp3",
                client_ip="10.0.0.1",
                duration_seconds=180.0,
                language="en",
                model="whisper-base",
                segment_count=40,
                attempts=1,
                attempts_log=[{"engine": "faster-whisper", "verdict": "accepted"}],
                progress=1.0,
                runtime_seconds=12.0,
                created_at=now - timedelta(minutes=n),
                completed_at=now - timedelta(minutes=n),
            )
            for n in range(count)
        )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--no-job", action="store_true", help="no job decoding meanwhile")
    parser.add_argument(
        "--src", type=Path, help="serve this checkout's src/ instead (a before/after run)"
    )
    parser.add_argument(
        "--isolation",
        choices=["process", "thread"],
        help="TFT_INLINE_ISOLATION for the service (unset: its default)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="tft-api-load-"))
    data = work / "data"
    port, hello_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TFT_")},
        "TFT_DATA_DIR": str(data),
        "TFT_PORT": str(port),
        "TFT_LOG_LEVEL": "WARNING",
        "TFT_INLINE_WORKERS": "1",
        **({"PYTHONPATH": str(args.src.resolve())} if args.src else {}),
        **({"TFT_INLINE_ISOLATION": args.isolation} if args.isolation else {}),
    }
    (work / "hello.py").write_text(HELLO_APP)
    service = subprocess.Popen([str(TFT), "serve"], env=env, stdout=subprocess.DEVNULL)
    hello = subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "uvicorn",
            "hello:app",
            "--port",
            str(hello_port),
            "--log-level",
            "warning",
        ],
        cwd=work,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", service)
        memory = PeakMemory(service.pid)
        wait_ready(f"http://127.0.0.1:{hello_port}/hello", hello)
        with httpx.Client(base_url=base, timeout=60) as http:
            email = f"load-{uuid.uuid4().hex[:8]}@example.com"
            user_id = http.post(
                "/api/auth/register", json={"email": email, "password": PASSWORD}
            ).json()["user_id"]
            jwt = http.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()[
                "access_token"
            ]
            token = http.post(
                "/api/auth/tokens",
                json={"name": "load"},
                headers={"Authorization": f"Bearer {jwt}"},
            ).json()["token"]
            seed_jobs(f"sqlite:///{data / 'tft.db'}", user_id, LIST_JOBS)
            auth = {"Authorization": f"Bearer {token}"}
            job_id = None
            if not args.no_job:
                track = speech_track(work / "ten-minutes.wav")
                with track.open("rb") as fh:
                    r = http.post("/api/v1/transcriptions", headers=auth, files={"file": fh})
                r.raise_for_status()
                job_id = r.json()["job_id"]
                for _ in range(300):  # until the worker is decoding it
                    if (
                        http.get(f"/api/v1/transcriptions/{job_id}", headers=auth).json()["status"]
                        == "processing"
                    ):
                        break
                    time.sleep(0.2)
            else:
                job_id = next(
                    iter(
                        http.get("/api/v1/transcriptions?per_page=1", headers=auth).json()[
                            "transcriptions"
                        ]
                    )
                )["job_id"]
        targets = {
            "hello": (f"http://127.0.0.1:{hello_port}/hello", None),
            "poll": (f"{base}/api/v1/transcriptions/{job_id}", token),
            "me": (f"{base}/api/v1/me", token),
            "list_200": (f"{base}/api/v1/transcriptions?per_page=200", token),
        }
        load_before = os.getloadavg()
        results: dict[str, dict[str, Any]] = {}
        for clients in args.clients:
            for name, (url, tok) in targets.items():
                results.setdefault(name, {})[str(clients)] = wrk(url, clients, args.seconds, tok)
        load_after = os.getloadavg()
        try:
            with httpx.Client(base_url=base, timeout=60) as http:
                job_status = http.get(f"/api/v1/transcriptions/{job_id}", headers=auth).json()
        except (httpx.HTTPError, ValueError) as exc:  # a collapsed server is a result too
            job_status = {"status": f"unreadable: {type(exc).__name__}"}
        peak = memory.stop()
        for per_count in results.values():
            for clients, row in per_count.items():
                row["x_hello"] = round(row["req_per_s"] / results["hello"][clients]["req_per_s"], 3)
        print(
            json.dumps(
                {
                    "src": str(args.src or ROOT / "src"),
                    "seconds_per_run": args.seconds,
                    "job_decoding": not args.no_job,
                    "isolation": args.isolation or "default",
                    "job_status_after": job_status.get("status"),
                    "job_progress_after": job_status.get("progress"),
                    "list_jobs": LIST_JOBS,
                    "service_memory": peak,
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after],
                    "results": results,
                },
                indent=2,
            )
        )
    finally:
        for process in (service, hello):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
