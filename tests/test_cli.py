"""The operator CLI against a real database (the app's settings via TFT_ variables)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from textfromtrack.cli import app
from textfromtrack.tokens import format as token_format

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TFT_DATABASE_URL", database_url)
    monkeypatch.delenv("TFT_SECRET_KEY", raising=False)
    return tmp_path / "data"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_users_tokens_credits_round_trip(env: Path) -> None:
    code, out = run("migrate")
    assert code == 0, out
    code, out = run(
        "users",
        "create",
        "--email",
        "op@example.com",
        "--password",
        "operator password",
        "--credits",
        "3",
    )
    assert code == 0, out
    assert "3 credits" in out
    code, out = run("credits", "grant", "op@example.com", "4")
    assert code == 0 and "balance is now 7" in out, out
    code, out = run("users", "list")
    assert code == 0 and "op@example.com" in out and "7" in out
    result = runner.invoke(
        app,
        [
            "tokens",
            "create",
            "--email",
            "op@example.com",
            "--name",
            "ci",
            "--scope",
            "transcriptions:read",
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token_format.is_well_formed(token)
    code, out = run("users", "suspend", "op@example.com")
    assert code == 0 and "suspended" in out
    code, out = run("users", "unsuspend", "op@example.com")
    assert code == 0 and "active" in out


@pytest.mark.parametrize(
    "args",
    [
        ("users", "create", "--email", "not-an-email", "--password", "operator password"),
        ("users", "create", "--email", "x@example.com", "--password", "short"),
        ("users", "suspend", "ghost@example.com"),
        ("credits", "grant", "ghost@example.com", "4"),
        ("credits", "grant", "ghost@example.com", "0"),
        ("tokens", "create", "--email", "ghost@example.com", "--name", "n"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(env: Path, args: tuple[str, ...]) -> None:
    code, out = run(*args)
    assert code != 0
    assert out.strip()
    assert "Traceback" not in out


def test_duplicate_user_and_bad_scope(env: Path) -> None:
    assert (
        run("users", "create", "--email", "d@example.com", "--password", "operator password")[0]
        == 0
    )
    code, out = run(
        "users", "create", "--email", "d@example.com", "--password", "operator password"
    )
    assert code == 1 and "cannot be used" in out
    code, out = run(
        "tokens", "create", "--email", "d@example.com", "--name", "n", "--scope", "admin"
    )
    assert code == 1 and "Unknown scope" in out


def test_config_masks_secrets(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFT_SECRET_KEY", "super-secret-value")
    monkeypatch.setenv("TFT_DATABASE_URL", "postgresql+psycopg://app:hunter2@db.example/tft")
    code, out = run("config")
    assert code == 0
    assert "super-secret-value" not in out and "hunter2" not in out
    assert "TFT_SIGNUP_CREDITS=10" in out
    assert "postgresql+psycopg://app:********@db.example/tft" in out


def test_secret_key_is_generated_once_and_kept(env: Path) -> None:
    from textfromtrack.config import Settings

    first = Settings().effective_secret_key
    second = Settings().effective_secret_key
    assert first == second and len(first) >= 32
    assert (env / "secret_key").stat().st_mode & 0o777 == 0o600
