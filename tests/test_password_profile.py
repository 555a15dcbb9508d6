"""TFT_PASSWORD_HASH_PROFILE: argon2id's parameters for new hashes, and the move of old
hashes to them at their next login, through a live `tft serve`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters

from live import PASSWORD, live_server
from textfromtrack.accounts import passwords
from textfromtrack.config import PasswordHashProfile, Settings

# The profile is process-wide: these tests set it themselves and put it back.
pytestmark = pytest.mark.real_password_hashing


@pytest.fixture(autouse=True)
def _restore_profile() -> Iterator[None]:
    held = passwords._hasher
    yield
    passwords._hasher = held
    passwords._dummy_hash.cache_clear()


@pytest.mark.parametrize(
    ("profile", "memory_kib", "passes", "lanes"),
    [
        ("rfc9106-low-memory", 65536, 3, 4),
        ("rfc9106-high-memory", 2097152, 1, 4),
        ("cheapest", 8, 1, 1),
    ],
)
def test_each_profile_names_argon2_cffis_parameters(
    profile: PasswordHashProfile, memory_kib: int, passes: int, lanes: int
) -> None:
    parameters = passwords.PROFILES[profile]
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        memory_kib,
        passes,
        lanes,
    )
    assert parameters.type.name == "ID"


def test_the_default_is_the_librarys_own_parameters() -> None:
    assert Settings().password_hash_profile == "rfc9106-low-memory"
    library = PasswordHasher()
    default = passwords.PROFILES["rfc9106-low-memory"]
    assert (library.memory_cost, library.time_cost, library.parallelism) == (
        default.memory_cost,
        default.time_cost,
        default.parallelism,
    )


def test_a_hash_of_another_profile_verifies_and_asks_to_move() -> None:
    passwords.use_profile("cheapest")
    cheap = passwords.hash_password(PASSWORD)
    assert extract_parameters(cheap).memory_cost == 8
    assert not passwords.needs_rehash(cheap)
    passwords.use_profile("rfc9106-low-memory")
    assert passwords.verify_password(cheap, PASSWORD)
    assert not passwords.verify_password(cheap, PASSWORD + "!")
    assert passwords.needs_rehash(cheap)
    assert extract_parameters(passwords.hash_password(PASSWORD)).memory_cost == 65536


def _stored_hash(data_dir: Path, email: str) -> str:
    with sqlite3.connect(data_dir / "tft.db") as connection:
        row = connection.execute("SELECT password_hash FROM users WHERE email = ?", (email,))
        return str(row.fetchone()[0])


def test_a_live_server_hashes_with_its_profile_and_moves_old_hashes_at_login(
    tmp_path: Path, model_cache: Path
) -> None:
    data_dir = tmp_path / "live-data"  # live_server's own folder: both servers share it
    with live_server(tmp_path, model_cache) as cheap:  # the suite's profile
        email, _ = cheap.register()
    assert extract_parameters(_stored_hash(data_dir, email)).memory_cost == 8

    production = {"TFT_PASSWORD_HASH_PROFILE": "rfc9106-low-memory"}
    with live_server(tmp_path, model_cache, production) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            wrong = http.post("/api/auth/login", json={"email": email, "password": "nope" * 3})
            assert wrong.status_code == 401, wrong.text
            assert extract_parameters(_stored_hash(data_dir, email)).memory_cost == 8
            r = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
        moved = _stored_hash(data_dir, email)
        assert (extract_parameters(moved).memory_cost, extract_parameters(moved).time_cost) == (
            65536,
            3,
        )
        new_email, _ = server.register()
        assert extract_parameters(_stored_hash(data_dir, new_email)).memory_cost == 65536
