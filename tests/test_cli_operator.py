"""Operator papercuts: `tft config` reads back as the same settings, help is plain text,
and a taken port fails before anything starts, saying what to do."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textfromtrack.cli import app
from textfromtrack.config import Settings

runner = CliRunner()
TFT = Path(sys.executable).with_name("tft")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("TFT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TFT_TRUSTED_PROXIES", "10.0.0.1,10.0.0.2")
    monkeypatch.setenv("TFT_PUBLIC_BASE_URL", "https://lyrics.example.org/a path")
    monkeypatch.setenv("TFT_QUALITY_RETRY", "false")
    monkeypatch.setenv("TFT_OPENAI_API_KEY", "sk-very-secret")
    return tmp_path


def test_config_env_reads_back_as_the_same_settings(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = Settings()
    result = runner.invoke(app, ["config", "--env"])
    assert result.exit_code == 0, result.output
    assert "None" not in result.output and "sk-very-secret" not in result.output
    assert "# TFT_TOP_UP_URL is unset" in result.output
    assert "# TFT_OPENAI_API_KEY=******** (set; not shown)" in result.output
    for key in [k for k in os.environ if k.startswith("TFT_")]:
        monkeypatch.delenv(key)
    for line in result.output.splitlines():
        assert line.startswith(("TFT_", "# TFT_")), line
        if line.startswith("TFT_"):
            key, value = line.split("=", 1)
            monkeypatch.setenv(key, shlex.split(value)[0] if value else "")
    after = Settings()
    secrets = {"openai_api_key", "secret_key", "metrics_token"}
    for name in Settings.model_fields:
        if name not in secrets:
            assert getattr(after, name) == getattr(before, name), name


def test_config_explains_each_setting_in_plain_text(env: Path) -> None:
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    assert "``" not in result.output and ":class:" not in result.output
    assert "# Where users buy more credits" in result.output


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["config", "--help"]])
def test_help_is_plain_text(args: list[str]) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "``" not in result.output and "\n.. " not in result.output


def test_a_taken_port_fails_first_with_a_remedy(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TFT_")}
        env |= {"TFT_DATA_DIR": str(tmp_path / "data"), "TFT_PORT": str(port)}
        done = subprocess.run(
            [str(TFT), "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert f"127.0.0.1:{port}" in message and "address already in use" in message
    assert f"--port {port + 1}" in message and "TFT_PORT" in message
    # Nothing started: no database was created or migrated.
    assert not (tmp_path / "data" / "tft.db").exists()
