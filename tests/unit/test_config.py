"""Table tests for settings parsing, URL masking and the persisted secret key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from textfromtrack.config import (
    SECRET_KEY_FILE,
    Settings,
    load_or_create_secret,
    mask_url,
    masked_settings,
)


@pytest.fixture(autouse=True)
def _clean_tft_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's or CI's own TFT_* variables out of these tests."""
    for name in list(os.environ):
        if name.upper().startswith("TFT_"):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------- mask_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql://u:pw@h/d?opt=a@b",
            "postgresql://u:********@h/d?opt=a@b",
            id="at-sign-in-query",
        ),
        pytest.param(
            "postgresql+psycopg://tft:hunter2@db.example.com:5432/tft",
            "postgresql+psycopg://tft:********@db.example.com:5432/tft",
            id="postgres-with-password",
        ),
        pytest.param(
            "postgresql+psycopg://tft@db.example.com/tft",
            "postgresql+psycopg://tft@db.example.com/tft",
            id="postgres-without-password",
        ),
        pytest.param(
            "postgresql://db.example.com/tft",
            "postgresql://db.example.com/tft",
            id="postgres-no-credentials",
        ),
        pytest.param(
            "sqlite:////var/lib/tft/tft.db",
            "sqlite:////var/lib/tft/tft.db",
            id="sqlite-path",
        ),
        pytest.param(
            "redis://:redispass@cache:6379/0",
            "redis://:********@cache:6379/0",
            id="redis-password-only",
        ),
        pytest.param(
            "redis://default:redispass@cache:6379/0",
            "redis://default:********@cache:6379/0",
            id="redis-user-and-password",
        ),
        pytest.param(
            "postgresql://tft:p@ss:w0rd@db/tft",
            "postgresql://tft:********@db/tft",
            id="password-with-at-and-colon",
        ),
        pytest.param("user:secret@host/db", "user:secret@host/db", id="no-scheme"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql+psycopg://tft:hunter2@db:5432/tft", "hunter2"),
        ("redis://:redispass@cache:6379/0", "redispass"),
        ("postgresql://tft:p@ss:w0rd@db/tft", "p@ss:w0rd"),
    ],
)
def test_mask_url_hides_password(url: str, password: str) -> None:
    assert password not in mask_url(url)


# ---------------------------------------------------------------- masked_settings


def test_masked_settings_never_contains_secret(tmp_path: Path) -> None:
    settings = Settings(secret_key="s3cr3t-value", data_dir=tmp_path)
    shown = masked_settings(settings)
    assert set(shown) == set(Settings.model_fields)
    assert all("s3cr3t-value" not in value for value in shown.values())
    assert shown["secret_key"] == "******** (from environment)"


def test_masked_settings_secret_from_file(tmp_path: Path) -> None:
    shown = masked_settings(Settings(data_dir=tmp_path))
    assert shown["secret_key"] == f"******** (from {tmp_path / SECRET_KEY_FILE})"
    # Displaying the settings does not generate the secret.
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_masked_settings_masks_database_password(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://tft:dbpass123@db/tft")
    shown = masked_settings(settings)
    assert shown["database_url"] == "postgresql+psycopg://tft:********@db/tft"
    assert all("dbpass123" not in value for value in shown.values())


def test_masked_settings_joins_lists(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, trusted_proxies=["10.0.0.0/8", "127.0.0.1"])
    assert masked_settings(settings)["trusted_proxies"] == "10.0.0.0/8,127.0.0.1"


# ---------------------------------------------------------------- load_or_create_secret


def test_load_or_create_secret_creates_0600_file_and_is_stable(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    first = load_or_create_secret(data_dir)
    path = data_dir / SECRET_KEY_FILE
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first
    assert len(first) >= 32
    assert load_or_create_secret(data_dir) == first
    # No temporary file is left behind.
    assert sorted(p.name for p in data_dir.iterdir()) == [SECRET_KEY_FILE]


def test_load_or_create_secret_reads_existing_file(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("pre-existing-secret\n")
    assert load_or_create_secret(tmp_path) == "pre-existing-secret"


def test_effective_secret_key_prefers_explicit_value(tmp_path: Path) -> None:
    settings = Settings(secret_key="s3cr3t-value", data_dir=tmp_path)
    assert settings.effective_secret_key == "s3cr3t-value"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_effective_secret_key_falls_back_to_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_secret_key == load_or_create_secret(tmp_path)


# ---------------------------------------------------------------- Settings from env


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ("TFT_SIGNUP_CREDITS", "signup_credits", 25),
        ("TFT_PORT", "port", 9000),
        ("TFT_HOST", "host", "192.0.2.10"),
        ("TFT_LOG_LEVEL", "log_level", "DEBUG"),
        ("TFT_PUBLIC_BASE_URL", "public_base_url", "https://tft.example.com"),
        ("TFT_DATABASE_URL", "database_url", "postgresql+psycopg://u:p@h/d"),
    ],
)
def test_settings_reads_tft_env(
    monkeypatch: pytest.MonkeyPatch, env: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(env, str(expected))
    assert getattr(Settings(), field) == expected


def test_settings_reads_data_dir_and_secret_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TFT_SECRET_KEY", "env-secret")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "env-secret"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("10.0.0.0/8, 127.0.0.1", ["10.0.0.0/8", "127.0.0.1"], id="comma-space"),
        pytest.param("10.0.0.0/8,127.0.0.1", ["10.0.0.0/8", "127.0.0.1"], id="comma"),
        pytest.param(" 192.168.1.1 ", ["192.168.1.1"], id="single-padded"),
        pytest.param("::1, fd00::/8", ["::1", "fd00::/8"], id="ipv6"),
        pytest.param("10.0.0.1,,  ,10.0.0.2,", ["10.0.0.1", "10.0.0.2"], id="empty-parts"),
        pytest.param("", [], id="empty"),
    ],
)
def test_trusted_proxies_from_env(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("TFT_TRUSTED_PROXIES", raw)
    assert Settings().trusted_proxies == expected


def test_trusted_proxies_default_empty() -> None:
    assert Settings().trusted_proxies == []


def test_trusted_proxies_list_passes_through(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, trusted_proxies=["10.0.0.0/8"])
    assert settings.trusted_proxies == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("TFT_PORT", "0"),
        ("TFT_PORT", "70000"),
        ("TFT_SIGNUP_CREDITS", "-1"),
        ("TFT_PASSWORD_MIN_LENGTH", "7"),
        ("TFT_SESSION_TTL_HOURS", "0"),
    ],
)
def test_settings_rejects_out_of_range_env(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError):
        Settings()


# ---------------------------------------------------------------- derived values


def test_default_database_url_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url is None
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'tft.db').resolve()}"


def test_default_database_url_is_absolute_for_relative_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (
        settings.effective_database_url == f"sqlite:///{(tmp_path / 'data' / 'tft.db').resolve()}"
    )


def test_explicit_database_url_wins(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u:p@h/d"
    assert Settings(data_dir=tmp_path, database_url=url).effective_database_url == url


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        ("https://tft.example.com", True),
        ("HTTPS://TFT.EXAMPLE.COM", True),
        ("http://127.0.0.1:8000", False),
        ("http://https.example.com", False),
    ],
)
def test_cookie_secure(tmp_path: Path, base_url: str, secure: bool) -> None:
    assert Settings(data_dir=tmp_path, public_base_url=base_url).cookie_secure is secure
