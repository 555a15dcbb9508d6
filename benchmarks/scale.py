"""Scale-out throughput: the same one-minute jobs through the embedded default and
through Dramatiq with one and with two worker processes, side by side in one run.

    .venv/bin/python benchmarks/scale.py [--jobs 8] [--configs inline,dramatiq-1,dramatiq-2]

Configurations, each a fresh set of real processes on this machine:

- ``inline``: `tft serve` alone (SQLite, its default inline worker thread);
- ``dramatiq-N``: `tft serve` on a PostgreSQL schema of its own, a private
  `redis-server`, and `tft worker --processes N --threads 1`.

The one-minute track is real speech built at run time from ../shared/testdata (the
LibriVox and LibriSpeech clips end to end, cut at 60 s) in a temp dir. Each
configuration first runs one short job per worker process (models load), then one
track alone (the idle submit-to-done), then ``--jobs`` tracks submitted at once over
HTTP; each job's submit-to-done is measured by the client (POST sent to the first poll
that sees it done; polls every 0.2 s). The engine alone is timed in this process on the
same track with the same engine and decoding options the workers use
(``runner.run_standard``: decode, voice detection, Whisper, lines), ``--engine-runs``
times just before each configuration; their median is that configuration's engine
time, so drift in the machine's load hits both alike.

Prints JSON: per configuration jobs per minute, p50/p95 submit-to-done, the idle
job's submit-to-done, its overhead against the engine alone and the service's own
share of it (submit-to-done less the worker's runtime), the workers' runtime per job,
and ``os.getloadavg()`` before and after. On a shared 2-core machine
read the ratios between configurations, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "queue"))

from tft_fleet import private_redis, reachable, tft_workers  # noqa: E402

from live import LiveServer, live_server  # noqa: E402
from textfromtrack.config import Settings  # noqa: E402
from textfromtrack.jobs import processing  # noqa: E402
from textfromtrack.jobs.models import Job  # noqa: E402
from textfromtrack.media.decode import decode_audio  # noqa: E402
from textfromtrack.models import import_all_models  # noqa: E402
from textfromtrack.pipeline import runner  # noqa: E402
from textfromtrack.pipeline.engines import select as engine_select  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
PG_URL = os.environ.get("TFT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONFIGS = ("inline", "dramatiq-1", "dramatiq-2")
RATE = 16000
FINAL = {"done", "error", "cancelled"}
CLAIMED_BY = re.compile(r"claimed by [^:\s]+:(\d+):")


def speech_track(path: Path, seconds: float, testdata: Path = TESTDATA) -> Path:
    """Real English speech: the shared clips end to end (LibriVox first), cut at length."""
    en = testdata / "en"
    clips = sorted((en / "librivox_sense_and_sensibility").glob("*.wav"))
    clips += sorted(p for p in en.glob("*") if p.suffix in {".wav", ".flac"})
    if not clips:
        raise SystemExit(f"no clips under {en}")
    parts, total = [], 0
    gap = np.zeros(int(0.3 * RATE), dtype=np.float32)  # a breath between clips
    while total < seconds * RATE:
        for clip in clips:
            samples = decode_audio(clip, RATE, 1)
            parts += [samples, gap]
            total += len(samples) + len(gap)
    audio = np.concatenate(parts)[: int(seconds * RATE)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


class EngineAlone:
    """The standard attempt in this process, with the workers' engine and options."""

    def __init__(self, track: Path, model_cache: Path) -> None:
        import_all_models()
        settings = Settings(model_cache_dir=model_cache, data_dir=model_cache.parent / "engine")
        job = Job(
            language_requested="en",
            vintage=False,
            pinyin=False,
            chinese_script="simplified",
            task="transcribe",
            prompt=None,
            temperature=None,
        )
        self.track = track
        self.options = processing.job_plan(settings, job).standard_options
        self.engine = engine_select.standard_engine(settings)
        runner.run_standard(track, self.engine, self.options)  # warm-up: loads the model
        self.times: list[float] = []

    def time(self, runs: int) -> float:
        """The median of ``runs`` timings, all kept in ``times``."""
        mine = []
        for _ in range(runs):
            started = time.perf_counter()
            runner.run_standard(self.track, self.engine, self.options)
            mine.append(time.perf_counter() - started)
        self.times += mine
        return statistics.median(mine)


def _r(values: list[float]) -> list[float]:
    return [round(v, 2) for v in values]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 2)


class Client:
    def __init__(self, server: LiveServer) -> None:
        _, jwt = server.register(f"bench-{uuid.uuid4().hex[:8]}@example.com")
        self.token = server.token(jwt)
        self.http = httpx.Client(
            base_url=server.api, headers={"Authorization": f"Bearer {self.token}"}, timeout=120
        )

    def submit(self, clip: Path) -> tuple[str, float]:
        started = time.monotonic()
        with clip.open("rb") as fh:
            r = self.http.post(
                "/transcriptions", files={"file": (clip.name, fh)}, data={"language": "en"}
            )
        if r.status_code != 201:
            raise RuntimeError(f"submit answered {r.status_code}: {r.text}")
        return str(r.json()["job_id"]), started

    def wait(self, ids: list[str], timeout: float) -> tuple[dict[str, float], dict[str, Any]]:
        """Client time each job was first seen final, and its last JSON."""
        seen: dict[str, float] = {}
        last: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while len(seen) < len(ids):
            r = self.http.get("/transcriptions", params={"per_page": 100})
            now = time.monotonic()
            for job in r.json()["transcriptions"]:
                if job["job_id"] in ids and job["status"] in FINAL and job["job_id"] not in seen:
                    seen[job["job_id"]], last[job["job_id"]] = now, job
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs not final after {timeout} s: {len(seen)}/{len(ids)}")
            time.sleep(0.2)
        failed = {i: j.get("error") for i, j in last.items() if j["status"] != "done"}
        if failed:
            raise RuntimeError(f"jobs failed: {failed}")
        return seen, last

    def close(self) -> None:
        self.http.close()


def run_config(
    name: str, folder: Path, model_cache: Path, track: Path, warm: Path, jobs: int, engine: float
) -> dict[str, Any]:
    processes = int(name.split("-")[1]) if name.startswith("dramatiq-") else 0
    env = {
        # One account submits every job at once: lift the per-user and per-IP limits.
        "TFT_MAX_ACTIVE_JOBS_PER_USER": str(jobs + 4),
        "TFT_MAX_ACTIVE_JOBS_PER_IP": str(jobs + 4),
        "TFT_SIGNUP_CREDITS": str(jobs + 10),
    }
    with ExitStack() as stack:
        if processes:
            redis = stack.enter_context(private_redis(folder / "redis"))
            env |= {
                "TFT_DATABASE_URL": stack.enter_context(_pg_schema()),
                "TFT_BROKER_URL": redis.url,
                "TFT_QUEUE_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
            }
        server = stack.enter_context(live_server(folder / "serve", model_cache, env))
        client = Client(server)
        stack.callback(client.close)
        if processes:
            (worker,) = stack.enter_context(
                tft_workers(
                    folder / "workers",
                    server.env,
                    1,
                    "--processes",
                    str(processes),
                    "--threads",
                    "1",
                )
            )
            while worker.log().count("ready for action") < processes:
                time.sleep(0.1)
            # Warm-up: short jobs until every worker process has run one (loaded its model).
            for _ in range(5):
                client.wait([client.submit(warm)[0] for _ in range(processes)], 300)
                if len(set(CLAIMED_BY.findall(worker.log()))) >= processes:
                    break
        else:
            client.wait([client.submit(warm)[0]], 300)
        # One track alone: the idle submit-to-done.
        job_id, started = client.submit(track)
        seen, last = client.wait([job_id], 600)
        idle = seen[job_id] - started
        idle_runtime = last[job_id]["runtime_seconds"]
        # The batch: every job submitted at once.
        load_before = os.getloadavg()
        submitted = [client.submit(track) for _ in range(jobs)]
        first = submitted[0][1]
        seen, last = client.wait([i for i, _ in submitted], 600 + 120 * jobs)
        load_after = os.getloadavg()
    turnaround = [seen[i] - t for i, t in submitted]
    wall = max(seen.values()) - first
    return {
        "workers": f"tft worker --processes {processes} --threads 1" if processes else "inline (1)",
        "database": "postgresql" if processes else "sqlite",
        "broker": "redis" if processes else None,
        "jobs": jobs,
        "wall_seconds": round(wall, 2),
        "jobs_per_minute": round(jobs / wall * 60, 2),
        "submit_to_done_p50": _pct(turnaround, 0.5),
        "submit_to_done_p95": _pct(turnaround, 0.95),
        "submit_to_done_seconds": _r(sorted(turnaround)),
        "worker_runtime_seconds_median": round(
            statistics.median(last[i]["runtime_seconds"] for i, _ in submitted), 2
        ),
        "engine_alone_seconds": round(engine, 2),
        "idle_submit_to_done_seconds": round(idle, 2),
        "idle_worker_runtime_seconds": round(idle_runtime, 2),
        # Upload, admission, the queue hop, the claim and the poll: the service's own
        # share of the idle job, free of the engine's run-to-run noise under load.
        "idle_service_seconds": round(idle - idle_runtime, 2),
        "idle_overhead_seconds": round(idle - engine, 2),
        "idle_ratio_over_engine": round(idle / engine, 3),
        "p50_ratio_over_engine": round(_pct(turnaround, 0.5) / engine, 3),
        # Engine-seconds of work done per wall-second: 1.0 is one engine busy throughout.
        "speedup_over_engine_alone": round(jobs * engine / wall, 3),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
    }


@contextmanager
def _pg_schema() -> Iterator[str]:
    """A PostgreSQL schema of its own, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    if not reachable(PG_URL, 5432):
        raise SystemExit(f"PostgreSQL is not reachable at {PG_URL} (TFT_TEST_DATABASE_URL)")
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url.set(query={**url.query, "options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=8, help="one-minute jobs per configuration")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated, from {', '.join(CONFIGS)} (dramatiq-N for any N)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each job's track")
    parser.add_argument(
        "--engine-runs", type=int, default=3, help="engine timings before each configuration"
    )
    parser.add_argument(
        "--testdata", type=Path, default=TESTDATA, help="the shared test data (default ../shared)"
    )
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for c in configs:
        if c != "inline" and not (c.startswith("dramatiq-") and c[9:].isdigit()):
            parser.error(f"unknown configuration {c!r}")

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tft-scale-") as tmp:
        folder = Path(tmp)
        model_cache = folder / "models"
        model_cache.mkdir()
        track = speech_track(folder / "track.wav", args.seconds, args.testdata)
        warm = speech_track(folder / "warm.wav", 3.0, args.testdata)
        engine = EngineAlone(track, model_cache)
        results: dict[str, Any] = {}
        for name in configs:
            # Timed again just before each configuration, so load drift hits both alike.
            alone = engine.time(args.engine_runs)
            results[name] = run_config(
                name, folder / name, model_cache, track, warm, args.jobs, alone
            )
    print(
        json.dumps(
            {
                "track_seconds": args.seconds,
                "jobs_per_config": args.jobs,
                "cpu_count": os.cpu_count(),
                "engine_alone_seconds": _r(engine.times),
                "engine_alone_seconds_median": round(statistics.median(engine.times), 2),
                "configs": results,
                "loadavg_start": [round(x, 2) for x in load_start],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
