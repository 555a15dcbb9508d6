"""Service overhead: the same file through `tft serve` (submit to done) and through
faster-whisper directly, same model and settings, side by side in one run.

    .venv/bin/python benchmarks/e2e_vs_engine.py [--audio PATH] [--runs 3]

Prints JSON: median seconds for each path, their ratio (service / engine), and
the word error rate of each against the reference transcript next to the audio.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from textfromtrack.media.decode import decode_audio  # noqa: E402
from textfromtrack.pipeline.engines.base import TranscribeOptions  # noqa: E402
from textfromtrack.pipeline.engines.faster_whisper import FasterWhisperEngine  # noqa: E402
from textfromtrack.pipeline.models import resolve_whisper_model  # noqa: E402
from textfromtrack.pipeline.runner import transcript_lines  # noqa: E402
from textfromtrack.pipeline.scoring import word_error_rate  # noqa: E402

DEFAULT_AUDIO = (
    ROOT.parent
    / "shared"
    / "testdata"
    / "en"
    / "librivox_sense_and_sensibility"
    / ("sense_and_sensibility_01_austen_64kb-0870.wav")
)
TFT = ROOT / ".venv" / "bin" / "tft"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TFT_DATA_DIR": str(data_dir),
        "TFT_PORT": str(port),
        "TFT_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [
            TFT,
            "users",
            "create",
            "--email",
            "bench@example.com",
            "--password",
            "benchmark pass",
            "--credits",
            "1000",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    token = (
        subprocess.run(
            [TFT, "tokens", "create", "--email", "bench@example.com", "--name", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    env["BENCH_TOKEN"] = token
    proc = subprocess.Popen(
        [TFT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    proc.token = token  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("service did not start")


def through_service(base: str, token: str, audio: Path) -> tuple[float, str]:
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    with audio.open("rb") as fh:
        r = httpx.post(
            f"{base}/api/v1/transcriptions",
            headers=headers,
            files={"file": (audio.name, fh)},
            timeout=60,
        )
    r.raise_for_status()
    job_id = r.json()["job_id"]
    while True:
        job = httpx.get(f"{base}/api/v1/transcriptions/{job_id}", headers=headers).json()
        if job["status"] in {"done", "error"}:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if job["status"] != "done":
        raise RuntimeError(job)
    txt = httpx.get(
        f"{base}/api/v1/transcriptions/{job_id}/export", headers=headers, params={"format": "txt"}
    ).text
    return elapsed, txt


def directly(engine: FasterWhisperEngine, audio: Path) -> tuple[float, str]:
    started = time.perf_counter()
    samples = decode_audio(audio, 16000, 1)
    transcript = engine.transcribe(samples, TranscribeOptions())
    lines = transcript_lines(transcript)
    elapsed = time.perf_counter() - started
    return elapsed, "\n".join(s.text for s in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio", type=Path, default=DEFAULT_AUDIO)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    reference = args.audio.with_suffix(".txt").read_text()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        port = free_port()
        proc = start_service(data_dir, port)
        try:
            base = f"http://127.0.0.1:{port}"
            token = proc.token  # type: ignore[attr-defined]
            through_service(base, token, args.audio)  # warm-up: loads the model in the worker
            path, display = resolve_whisper_model("base", data_dir / "models")
            engine = FasterWhisperEngine(path, display, device="cpu", compute_type="int8")
            directly(engine, args.audio)  # warm-up
            service_times, engine_times = [], []
            service_text = engine_text = ""
            # Alternate so drift in machine load hits both paths alike.
            for _ in range(args.runs):
                t, service_text = through_service(base, token, args.audio)
                service_times.append(t)
                t, engine_text = directly(engine, args.audio)
                engine_times.append(t)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    service_s = statistics.median(service_times)
    engine_s = statistics.median(engine_times)
    print(
        json.dumps(
            {
                "audio": str(args.audio.relative_to(ROOT.parent))
                if args.audio.is_relative_to(ROOT.parent)
                else str(args.audio),
                "runs": args.runs,
                "model": display,
                "compute_type": "int8",
                "service_seconds_median": round(service_s, 3),
                "engine_seconds_median": round(engine_s, 3),
                "ratio_service_over_engine": round(service_s / engine_s, 3),
                "service_seconds": [round(t, 3) for t in service_times],
                "engine_seconds": [round(t, 3) for t in engine_times],
                "wer_service": round(word_error_rate(reference, service_text, "en"), 4),
                "wer_engine": round(word_error_rate(reference, engine_text, "en"), 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
