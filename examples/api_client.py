#!/usr/bin/env python3
"""TextFromTrack API v1 reference client: one file, needs only httpx.

    pip install httpx
    TFT_TOKEN=tft_pat_... python api_client.py track.mp3 --format lrc
    TFT_TOKEN=tft_pat_... python api_client.py track.flac --format srt --vintage

Uploads the file, polls the job until it is done (or --timeout passes), and
writes ``<stem>.<format>`` into the current folder. ``TFT_BASE_URL`` (or
``--base-url``) picks the server; the default is a local one,
http://127.0.0.1:8000/api/v1.

Exit status: 0 done; 1 the job failed or another error; 2 bad command line;
3 bad token or no permission; 4 not enough credits; 5 rate limited;
6 the file or an option was refused; 8 server error or unreachable;
9 --timeout passed (the job keeps running on the server).

Copy this file anywhere: it imports nothing but the standard library and httpx.
For a packaged client with typed results and a multi-file CLI, see
``clients/python`` (``pip install textfromtrack-client``, command ``tft-client``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:8000/api/v1"
FORMATS = ("txt", "srt", "lrc", "json", "vtt")
# Transient answers worth another try, for requests that are safe to repeat (GET).
RETRY_STATUSES = {429, 502, 503, 504}
MAX_RETRIES = 3

EXIT_CODES = {
    "unauthorized": 3,
    "forbidden": 3,
    "insufficient_credits": 4,
    "rate_limited": 5,
    "validation_error": 6,
    "track_too_long": 6,
    "internal_error": 8,
    "connection_error": 8,
    "timeout": 9,
}


class ApiError(Exception):
    """An error answer of the API: its envelope's code, message and details."""

    def __init__(
        self, status: int | None, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            error = response.json()["error"]
            return cls(response.status_code, error["code"], error["message"], error.get("details"))
        except (ValueError, KeyError, TypeError):
            # Not our envelope: a proxy's error page, or the wrong base URL.
            code = "internal_error" if response.status_code >= 500 else "http_error"
            return cls(response.status_code, code, f"HTTP {response.status_code}")

    def hint(self) -> str:
        """What the user can do about it, when there is something."""
        if self.code == "insufficient_credits" and self.details.get("top_up_url"):
            return f" Top up at {self.details['top_up_url']}"
        if self.code == "unauthorized":
            return " Check TFT_TOKEN."
        fields = self.details.get("fields")
        if isinstance(fields, dict) and fields:
            return " [" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + "]"
        return ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Client:
    def __init__(self, token: str, base_url: str, timeout: float = 120.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: str) -> httpx.Response:
        """GET with retries on 429 and 502-504 (honouring Retry-After) and lost connections."""
        for attempt in range(MAX_RETRIES + 1):
            try:
                response = self.http.get(path, params=params)
            except httpx.TransportError as exc:
                if attempt == MAX_RETRIES:
                    raise ApiError(None, "connection_error", str(exc)) from exc
                reason, wait = type(exc).__name__, None
            else:
                if response.is_success:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt == MAX_RETRIES:
                    raise ApiError.from_response(response)
                reason, wait = f"HTTP {response.status_code}", response.headers.get("Retry-After")
            # Exponential backoff with jitter, unless the server said how long to wait.
            delay = (
                float(wait)
                if wait and wait.isdigit()
                else 2**attempt * 0.5 + random.uniform(0, 0.5)  # noqa: S311 - jitter only
            )
            log(f"  retry {attempt + 1}/{MAX_RETRIES} of GET {path} in {delay:.1f} s ({reason})")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def submit(self, path: Path, **options: str) -> dict[str, Any]:
        # Not retried: if the answer is lost, the job may exist already and hold a credit.
        with path.open("rb") as fh:
            try:
                response = self.http.post(
                    "/transcriptions", files={"file": (path.name, fh)}, data=options
                )
            except httpx.TransportError as exc:
                raise ApiError(None, "connection_error", str(exc)) from exc
        if not response.is_success:
            raise ApiError.from_response(response)
        body: dict[str, Any] = response.json()
        return body

    def wait(self, job_id: str, timeout: float, poll_interval: float) -> dict[str, Any]:
        """Poll until done; raise on error, cancellation, or when timeout passes."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            job: dict[str, Any] = self.get(f"/transcriptions/{job_id}").json()
            shown = job["status"]
            if job["status"] == "processing":
                shown += f" {job.get('progress', 0):.0%}"
            if shown != last:
                log(f"  status: {shown}")
                last = shown
            if job["status"] == "done":
                return job
            if job["status"] in ("error", "cancelled"):
                raise ApiError(None, f"job_{job['status']}", job.get("error") or job["status"])
            if time.monotonic() >= deadline:
                raise ApiError(
                    None,
                    "timeout",
                    f"job {job_id} still {job['status']} after {timeout:g} s; "
                    "it keeps running on the server",
                )
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


def report_attempts(job: dict[str, Any]) -> None:
    """Retry telemetry: what the server ran, and whether it had to retry with vocal separation."""
    for entry in job.get("attempts_log") or []:
        quality = entry.get("quality") or {}
        reasons = ", ".join(quality.get("reasons") or []) or "no problems"
        log(
            f"  attempt {entry.get('attempt')}: {entry.get('pipeline')} pipeline, "
            f"{entry.get('engine')} {entry.get('model')}"
            + (f", vocals separated by {entry['separator']}" if entry.get("separator") else "")
            + f", {entry.get('seconds')} s, verdict {entry.get('verdict')} ({reasons})"
        )
    if job.get("attempts", 1) >= 2 and job.get("vocal_separation_used"):
        log("  the first transcript looked poor; the server retried with vocal separation")
    if job.get("degraded"):
        log("  warning: the transcript is still flagged as poor quality")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Transcribe an audio file with TextFromTrack.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", choices=FORMATS, default="lrc")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--vintage", action="store_true", help="music / old recordings mode")
    mode.add_argument("--pinyin", action="store_true", help="annotate Chinese with pinyin")
    parser.add_argument("--language", help="ISO 639-1 code, e.g. en; skips detection")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the job")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--base-url", default=os.environ.get("TFT_BASE_URL", DEFAULT_BASE_URL))
    args = parser.parse_args(argv)

    token = os.environ.get("TFT_TOKEN", "")
    if not token:
        log("error: set TFT_TOKEN to your API token (tft_pat_...)")
        return EXIT_CODES["unauthorized"]
    if not args.file.is_file():
        log(f"error: no such file: {args.file}")
        return EXIT_CODES["validation_error"]

    client = Client(token, args.base_url)
    try:
        options = {"vintage": str(args.vintage).lower(), "pinyin": str(args.pinyin).lower()}
        if args.language:
            options["language"] = args.language
        started = time.monotonic()
        submitted = client.submit(args.file, **options)
        job_id = submitted["job_id"]
        log(
            f"Submitted {args.file.name}: job_id={job_id}, "
            f"{submitted['duration_seconds']:.1f} s of audio, "
            f"{submitted['credits_quoted']} credit, vintage={submitted['vintage_mode']}"
        )
        job = client.wait(job_id, args.timeout, args.poll_interval)
        log(
            f"Done in {time.monotonic() - started:.1f} s: language {job['language']}, "
            f"{job['segment_count']} segments, model {job['model']}, attempts {job['attempts']}"
        )
        report_attempts(job)
        content = client.get(f"/transcriptions/{job_id}/export", format=args.format).content
        target = Path.cwd() / f"{args.file.stem}.{args.format}"
        target.write_bytes(content)
        print(target.name)
        return 0
    except ApiError as exc:
        log(f"error: {exc}{exc.hint()}")
        return EXIT_CODES.get(exc.code, 1)
    except KeyboardInterrupt:
        log("interrupted; a submitted job keeps running on the server")
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
