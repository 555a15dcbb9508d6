"""`tft-client` end to end: the installed console script against live servers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textfromtrack_client import (
    ConnectionFailed,
    Forbidden,
    Gone,
    InsufficientCredits,
    InternalError,
    InvalidState,
    Job,
    JobFailed,
    NotFound,
    RateLimited,
    TextFromTrack,
    TrackTooLong,
    Unauthorized,
    UnexpectedResponse,
    UnknownError,
    ValidationError,
    WaitTimeout,
    cli,
)

from client.conftest import JFK_TEXT
from live import LiveServer, free_port
from textfromtrack.pipeline.scoring import word_error_rate

TFT_CLIENT = Path(sys.executable).with_name("tft-client")
LRC_LINE = re.compile(r"^\[(\d\d):(\d\d)\.(\d\d)\](.*)$")


def tft_client(
    *args: str, token: str | None, api: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFT_")}
    env["TFT_BASE_URL"] = api
    if token is not None:
        env["TFT_TOKEN"] = token
    return subprocess.run(
        [str(TFT_CLIENT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(done: subprocess.CompletedProcess[str], code: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("tft-client: error:")]
    assert len(lines) == 1, done.stderr
    assert f"{code}:" in lines[0], lines[0]
    return lines[0]


def parse_lrc(text: str) -> list[tuple[float, str]]:
    rows = []
    for line in text.splitlines():
        match = LRC_LINE.match(line)
        if match:
            minutes, seconds, hundredths, words = match.groups()
            rows.append((int(minutes) * 60 + int(seconds) + int(hundredths) / 100, words))
    return rows


# ---------------------------------------------------------------- end to end


def test_transcribe_two_files_to_lrc_and_srt_then_manage_them(
    speech_server: LiveServer, jfk: Path, tmp_path: Path
) -> None:
    token = speech_server.new_token()
    api = speech_server.api
    second = shutil.copy(jfk, tmp_path / "kennedy.flac")
    out = tmp_path / "lyrics"
    done = tft_client(
        "--verbose",
        "transcribe",
        str(jfk),
        str(second),
        "--format",
        "lrc",
        "-f",
        "srt",
        "--output",
        str(out),
        "--language",
        "en",
        "--poll-interval",
        "0.3",
        token=token,
        api=api,
    )
    assert done.returncode == 0, done.stderr
    reference = JFK_TEXT.read_text()
    for stem in ("jfk_whisper", "kennedy"):
        lrc = parse_lrc((out / f"{stem}.lrc").read_text())
        assert [t for t, _ in lrc] == sorted(t for t, _ in lrc) and lrc[0][0] < 1.0
        assert word_error_rate(reference, " ".join(w for _, w in lrc)) < 0.2
        srt = (out / f"{stem}.srt").read_text()
        assert srt.startswith("1\n00:00:")
        assert len(re.findall(r"^\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}$", srt, re.M)) >= 2
        assert f"{out / stem}.lrc, {out / stem}.srt" in done.stdout
    assert not list(out.glob(".*.part"))
    # --verbose: each job's submission and attempts are logged.
    assert done.stderr.count(": submitted, 11.0 s of audio, 1 credit quoted") == 2
    assert done.stderr.count(": attempt 1: standard pipeline, faster-whisper") == 2

    listed = json.loads(tft_client("jobs", "--json", token=token, api=api).stdout)
    assert listed["total"] == 2 and listed["page"] == 1
    job_ids = {j["filename"]: j["job_id"] for j in listed["transcriptions"]}
    job_id = job_ids["jfk_whisper.flac"]

    table = tft_client("jobs", "--status", "done", token=token, api=api)
    assert table.returncode == 0 and job_id in table.stdout and "kennedy.flac" in table.stdout
    status = tft_client("status", job_id, token=token, api=api)
    assert "status:     done" in status.stdout and "language:   en" in status.stdout
    as_json = json.loads(tft_client("status", job_id, "--json", token=token, api=api).stdout)
    assert as_json["job_id"] == job_id and as_json["attempts_log"]

    here = tmp_path / "here"
    here.mkdir()
    fetched = tft_client("download", job_id, "--format", "vtt", token=token, api=api, cwd=here)
    assert fetched.returncode == 0, fetched.stderr
    assert (here / "jfk_whisper.vtt").read_text().startswith("WEBVTT")
    piped = tft_client("download", job_id, "-f", "txt", "-o", "-", token=token, api=api)
    assert "ask not what your country" in piped.stdout.lower()

    me = tft_client("me", token=token, api=api)
    assert "credits:  8" in me.stdout
    cancelled = tft_client("cancel", job_ids["kennedy.flac"], "--json", token=token, api=api)
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    left = json.loads(tft_client("--json", "jobs", "--all", token=token, api=api).stdout)
    assert {j["status"] for j in left["transcriptions"]} == {"done", "cancelled"}


def test_one_bad_file_does_not_stop_the_others(
    speech_server: LiveServer, jfk: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.mp3"
    notes.write_text("not audio\n" * 100)
    done = tft_client(
        "transcribe",
        str(notes),
        str(jfk),
        "--json",
        "-o",
        str(tmp_path),
        "--poll-interval",
        "0.3",
        token=speech_server.new_token(),
        api=speech_server.api,
    )
    assert done.returncode == cli.EXIT_VALIDATION, done.stderr
    results = json.loads(done.stdout)
    assert [r["file"] for r in results] == [str(notes), str(jfk)]
    assert results[0]["error"]["code"] == "validation_error" and results[0]["job_id"] is None
    assert results[1]["error"] is None and results[1]["status"] == "done"
    assert results[1]["outputs"] == {"lrc": str(tmp_path / "jfk_whisper.lrc")}
    assert parse_lrc((tmp_path / "jfk_whisper.lrc").read_text())
    one_error_line(done, "validation_error")


def test_transcribe_waits_for_a_free_job_slot(
    speech_server: LiveServer, jfk: Path, tmp_path: Path
) -> None:
    token = speech_server.new_token()
    with TextFromTrack(token, speech_server.api) as tft:
        busy = [tft.submit(jfk).job_id for _ in range(2)]  # the account's two active jobs
        done = tft_client(
            "-v",
            "transcribe",
            str(shutil.copy(jfk, tmp_path / "third.flac")),
            "-o",
            str(tmp_path),
            "--poll-interval",
            "0.3",
            token=token,
            api=speech_server.api,
        )
        assert done.returncode == 0, done.stderr
        # Refused at admission, then sent again after the server's Retry-After.
        assert "third.flac: You already have 2 jobs in progress" in done.stderr
        assert "trying again in 15 s" in done.stderr
        assert parse_lrc((tmp_path / "third.lrc").read_text())
        assert all(tft.get(job_id).status == "done" for job_id in busy)
        assert tft.list().total == 3  # the refused attempt left no job behind


# ---------------------------------------------------------------- exit codes


def test_a_bad_or_missing_token_exits_with_the_auth_code(idle_server: LiveServer) -> None:
    for token in ("tft_pat_" + "z" * 43, None):
        done = tft_client("me", token=token, api=idle_server.api)
        assert done.returncode == cli.EXIT_AUTH
        one_error_line(done, "unauthorized")
    as_json = tft_client("me", "--json", token="tft_pat_nope", api=idle_server.api)
    assert json.loads(as_json.stdout)["error"]["code"] == "unauthorized"


def test_no_credits_exits_with_the_credits_code(idle_server: LiveServer, tone: Path) -> None:
    done = tft_client("transcribe", str(tone), token=idle_server.new_token(), api=idle_server.api)
    assert done.returncode == cli.EXIT_CREDITS
    line = one_error_line(done, "insufficient_credits")
    assert "Top up at https://example.com/top-up" in line


def test_no_free_slot_before_the_timeout_exits_rate_limited(
    idle_server: LiveServer, tone: Path
) -> None:
    token = idle_server.new_token(extra_credits=3)
    with TextFromTrack(token, idle_server.api) as tft:
        pending = [tft.submit(tone).job_id for _ in range(2)]
        try:
            started = time.monotonic()
            done = tft_client(
                "transcribe", str(tone), "--timeout", "1", token=token, api=idle_server.api
            )
            assert time.monotonic() - started < 10  # the 15 s Retry-After was not waited out
            assert done.returncode == cli.EXIT_RATE_LIMITED
            assert "(retry after 15 s)" in one_error_line(done, "rate_limited")
        finally:
            for job_id in pending:
                tft.delete(job_id)


def test_a_job_that_outlives_the_timeout_exits_with_the_timeout_code(
    idle_server: LiveServer, tone: Path, tmp_path: Path
) -> None:
    token = idle_server.new_token(extra_credits=1)
    done = tft_client(
        "transcribe",
        str(tone),
        "--timeout",
        "1",
        "--poll-interval",
        "0.3",
        "-o",
        str(tmp_path),
        token=token,
        api=idle_server.api,
    )
    assert done.returncode == cli.EXIT_TIMEOUT
    line = one_error_line(done, "wait_timeout")
    with TextFromTrack(token, idle_server.api) as tft:
        (job,) = tft.list().transcriptions
        assert f"tft-client status {job.job_id}" in line
        tft.delete(job.job_id)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_leaves_the_job_running_and_names_it(idle_server: LiveServer, tone: Path) -> None:
    token = idle_server.new_token(extra_credits=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFT_")}
    env.update(TFT_TOKEN=token, TFT_BASE_URL=idle_server.api)
    process = subprocess.Popen(
        [str(TFT_CLIENT), "transcribe", str(tone), "--poll-interval", "0.3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TextFromTrack(token, idle_server.api) as tft:
        try:
            deadline = time.monotonic() + 30
            while not tft.list().total and time.monotonic() < deadline:
                time.sleep(0.1)
            (job,) = tft.list().transcriptions
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == cli.EXIT_INTERRUPTED, stderr
        assert f"interrupted; these jobs keep running: {job.job_id}" in stderr
        assert tft.get(job.job_id).status == "pending"  # left alone, not cancelled
        tft.delete(job.job_id)


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["transcribe", "{notes}"], cli.EXIT_VALIDATION, "validation_error"),
        (["transcribe", "{tone}", "--language", "xx"], cli.EXIT_VALIDATION, "validation_error"),
        (["transcribe", "no-such-file.mp3"], cli.EXIT_VALIDATION, "No such file"),
        (["status", "00000000-0000-0000-0000-000000000000"], cli.EXIT_NOT_FOUND, "not_found"),
        (["cancel", "nope"], cli.EXIT_NOT_FOUND, "not_found"),
        (["download", "nope", "-f", "lrc"], cli.EXIT_NOT_FOUND, "not_found"),
    ],
)
def test_refusals_exit_with_their_codes(
    idle_server: LiveServer, tone: Path, tmp_path: Path, args: list[str], code: int, error: str
) -> None:
    notes = tmp_path / "notes.mp3"
    notes.write_text("not audio\n" * 100)
    argv = [a.format(notes=notes, tone=tone) for a in args]
    done = tft_client(
        *argv, token=idle_server.new_token(extra_credits=1), api=idle_server.api, cwd=tmp_path
    )
    assert done.returncode == code, done.stderr
    one_error_line(done, error)


def test_usage_errors_exit_2(idle_server: LiveServer, tone: Path) -> None:
    for argv in (
        ["transcribe", str(tone), "--pinyin", "--vintage"],
        ["transcribe", str(tone), "--format", "docx"],
        ["transcribe", str(tone), str(tone)],  # both would be written as tone.lrc
        ["frobnicate"],
    ):
        done = tft_client(*argv, token="tft_pat_unused", api=idle_server.api)
        assert done.returncode == cli.EXIT_USAGE, (argv, done.stderr)


def test_an_unreachable_server_exits_with_the_server_code() -> None:
    done = tft_client("me", token="tft_pat_x", api=f"http://127.0.0.1:{free_port()}/api/v1")
    assert done.returncode == cli.EXIT_SERVER
    one_error_line(done, "connection_error")


def test_help_documents_the_exit_codes() -> None:
    done = tft_client("--help", token=None, api="http://unused")
    assert done.returncode == 0
    for code, meaning in cli.EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in done.stdout


# ---------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Unauthorized("unauthorized", "m", status=401), cli.EXIT_AUTH),
        (Forbidden("forbidden", "m", status=403), cli.EXIT_AUTH),
        (InsufficientCredits("insufficient_credits", "m", status=402), cli.EXIT_CREDITS),
        (RateLimited("rate_limited", "m", status=429), cli.EXIT_RATE_LIMITED),
        (ValidationError("validation_error", "m", status=400), cli.EXIT_VALIDATION),
        (TrackTooLong("track_too_long", "m", status=400), cli.EXIT_VALIDATION),
        (InvalidState("validation_error", "m", status=409), cli.EXIT_VALIDATION),
        (FileNotFoundError(2, "No such file", "a.mp3"), cli.EXIT_VALIDATION),
        (NotFound("not_found", "m", status=404), cli.EXIT_NOT_FOUND),
        (Gone("gone", "m", status=410), cli.EXIT_NOT_FOUND),
        (InternalError("internal_error", "m", status=500), cli.EXIT_SERVER),
        (UnknownError("new_code", "m", status=507), cli.EXIT_SERVER),
        (ConnectionFailed("connection_error", "m"), cli.EXIT_SERVER),
        (UnexpectedResponse("unexpected_response", "m", status=200), cli.EXIT_SERVER),
        (UnknownError("new_code", "m", status=418), cli.EXIT_FAILED),
        (PermissionError(13, "Permission denied", "out"), cli.EXIT_FAILED),
    ],
)
def test_exit_code_for(error: BaseException, code: int) -> None:
    assert cli.exit_code_for(error) == code
    assert "\n" not in cli.describe(error)


def job(**fields: Any) -> Job:
    base: dict[str, Any] = {
        "job_id": "j1",
        "status": "done",
        "filename": "song.mp3",
        "duration_seconds": 180.0,
        "credits_charged": 1,
        "attempts": 1,
        "attempts_log": [],
    }
    return Job.from_dict({**base, **fields})


def test_job_outcomes_exit_codes() -> None:
    assert cli.exit_code_for(JobFailed(job(status="error", error="decoder died"))) == 1
    assert cli.exit_code_for(WaitTimeout(job(status="pending"), 5)) == cli.EXIT_TIMEOUT


def test_verbose_logs_the_vocal_separation_retry(caplog: pytest.LogCaptureFixture) -> None:
    retried = job(
        attempts=2,
        vocal_separation_used=True,
        degraded=True,
        model="whisper-base",
        attempts_log=[
            {
                "attempt": 1,
                "pipeline": "standard",
                "engine": "faster-whisper",
                "model": "whisper-base",
                "seconds": 2.0,
                "verdict": "poor",
                "quality": {"reasons": ["repetition loop"]},
            },
            {
                "attempt": 2,
                "pipeline": "vintage",
                "engine": "faster-whisper",
                "model": "whisper-base",
                "separator": "spleeter-2stems",
                "seconds": 5.3,
                "verdict": "winner",
            },
        ],
    )
    caplog.set_level("INFO", logger="textfromtrack_client")
    cli.log_attempts("song.mp3", retried)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "song.mp3: attempt 1: standard pipeline, faster-whisper whisper-base, 2.0 s, "
        "verdict poor (repetition loop)",
        "song.mp3: attempt 2: vintage pipeline, faster-whisper whisper-base, vocals separated "
        "by spleeter-2stems, 5.3 s, verdict winner",
        "song.mp3: the standard transcript was judged poor, so it was retried with vocal "
        "separation; the result is the better of 2 attempts (model whisper-base)",
        "song.mp3: the transcript is still flagged as poor quality",
    ]
