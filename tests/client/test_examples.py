"""The runnable examples, each run as a user would, against a live server."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from client.conftest import EXAMPLES, JFK_TEXT
from live import LiveServer
from textfromtrack.pipeline.scoring import word_error_rate

API_CLIENT = EXAMPLES / "api_client.py"
QUICKSTART = EXAMPLES / "quickstart.sh"
GET_LYRICS = EXAMPLES / "get_lyrics.mjs"
LRC_LINE = re.compile(r"^\[\d\d:\d\d\.\d\d\](.+)$", re.MULTILINE)


def run(
    argv: list[str], cwd: Path, token: str, api: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    # TFT_POLL_INTERVAL only speeds the shell and JS examples up; api_client takes a flag.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFT_")}
    env.update(TFT_TOKEN=token, TFT_BASE_URL=api, TFT_POLL_INTERVAL="0.3", **extra)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def assert_synced_lyrics(path: Path) -> None:
    lines = LRC_LINE.findall(path.read_text())
    assert len(lines) >= 2, path.read_text()
    assert word_error_rate(JFK_TEXT.read_text(), " ".join(lines)) < 0.2


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)", version.stdout.strip())
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------- api_client.py


def test_api_client_needs_only_the_standard_library_and_httpx() -> None:
    tree = ast.parse(API_CLIENT.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - sys.stdlib_module_names == {"httpx"}


def test_api_client_writes_lrc(speech_server: LiveServer, jfk: Path, tmp_path: Path) -> None:
    done = run(
        [sys.executable, str(API_CLIENT), str(jfk), "--format", "lrc", "--poll-interval", "0.3"],
        tmp_path,
        speech_server.new_token(),
        speech_server.api,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "jfk_whisper.lrc"
    assert_synced_lyrics(tmp_path / "jfk_whisper.lrc")
    assert "Submitted jfk_whisper.flac: job_id=" in done.stderr
    assert "attempt 1: standard pipeline" in done.stderr  # the retry telemetry


def test_api_client_vintage_srt(speech_server: LiveServer, jfk: Path, tmp_path: Path) -> None:
    done = run(
        [
            sys.executable,
            str(API_CLIENT),
            str(jfk),
            "--format",
            "srt",
            "--vintage",
            "--poll-interval",
            "0.3",
        ],
        tmp_path,
        speech_server.new_token(),
        speech_server.api,
    )
    assert done.returncode == 0, done.stderr
    assert "vintage=True" in done.stderr
    assert "vintage pipeline" in done.stderr and "vocals separated by" in done.stderr
    srt = (tmp_path / "jfk_whisper.srt").read_text()
    assert re.search(r"^00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}$", srt, re.MULTILINE)


def test_api_client_errors(idle_server: LiveServer, tone: Path, tmp_path: Path) -> None:
    argv = [sys.executable, str(API_CLIENT), str(tone)]
    broke = run(argv, tmp_path, idle_server.new_token(), idle_server.api)
    assert broke.returncode == 4
    assert broke.stderr.strip().splitlines()[-1] == (
        "error: insufficient_credits: Your account has 0 credits. This job needs 1. "
        "Top up at https://example.com/top-up"
    )
    bad_token = run(argv, tmp_path, "tft_pat_" + "q" * 43, idle_server.api)
    assert bad_token.returncode == 3 and "error: unauthorized:" in bad_token.stderr
    missing = run([*argv[:2], "nope.mp3"], tmp_path, "tft_pat_x", idle_server.api)
    assert missing.returncode == 6 and "no such file" in missing.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- quickstart.sh


@pytest.fixture
def shell_tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"quickstart.sh needs {', '.join(missing)}, absent here")


@pytest.mark.usefixtures("shell_tools")
def test_quickstart_downloads_all_four_formats(
    speech_server: LiveServer, jfk: Path, tmp_path: Path
) -> None:
    done = run(
        ["bash", str(QUICKSTART), str(jfk), "language=en"],
        tmp_path,
        speech_server.new_token(),
        speech_server.api,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "credit balance: 10" in done.stdout
    assert re.search(r"^job_id: [0-9a-f-]{36}$", done.stdout, re.MULTILINE)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"jfk_whisper.{fmt}" for fmt in ("json", "lrc", "srt", "txt")
    ]
    assert_synced_lyrics(tmp_path / "jfk_whisper.lrc")
    assert " --> " in (tmp_path / "jfk_whisper.srt").read_text()
    assert json.loads((tmp_path / "jfk_whisper.json").read_text())
    assert "ask not what your country" in (tmp_path / "jfk_whisper.txt").read_text().lower()


@pytest.mark.usefixtures("shell_tools")
def test_quickstart_stops_on_an_api_error(idle_server: LiveServer, tmp_path: Path) -> None:
    done = run(
        ["bash", str(QUICKSTART), str(QUICKSTART)],
        tmp_path,
        "tft_pat_" + "w" * 43,
        idle_server.api,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: HTTP 401 unauthorized: ")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- get_lyrics.mjs


@pytest.fixture
def node() -> str:
    major = node_major()
    if major is None:
        pytest.skip("node is absent")
    if major < 18:
        pytest.skip(f"get_lyrics.mjs needs Node 18+, this is Node {major}")
    return str(shutil.which("node"))


def test_get_lyrics_writes_lrc(
    speech_server: LiveServer, jfk: Path, tmp_path: Path, node: str
) -> None:
    done = run(
        [node, str(GET_LYRICS), str(jfk)], tmp_path, speech_server.new_token(), speech_server.api
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "jfk_whisper.lrc"
    assert "Submitted — " in done.stderr and " → done" in done.stderr
    assert_synced_lyrics(tmp_path / "jfk_whisper.lrc")


def test_get_lyrics_reports_api_errors(
    idle_server: LiveServer, tone: Path, tmp_path: Path, node: str
) -> None:
    done = run(
        [node, str(GET_LYRICS), str(tone)], tmp_path, idle_server.new_token(), idle_server.api
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: insufficient_credits: Your account has 0 credits. This job needs 1. "
        "Top up at https://example.com/top-up"
    )
    assert list(tmp_path.iterdir()) == []
