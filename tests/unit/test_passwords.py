"""argon2id hashing: the hash format and verification outcomes."""

from __future__ import annotations

import pytest

from textfromtrack.accounts.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    verify_password,
)

PASSWORD = "correct horse battery staple"
# These tests are about the hash itself, so they use the production cost parameters.
pytestmark = pytest.mark.real_password_hashing


@pytest.fixture(scope="module")
def known_hash() -> str:
    # One hash shared by the table below keeps the module fast (~50 ms per hash).
    return hash_password(PASSWORD)


def test_hash_is_argon2id(known_hash: str) -> None:
    assert known_hash.startswith("$argon2id$")
    assert PASSWORD not in known_hash


def test_hash_is_salted(known_hash: str) -> None:
    assert hash_password(PASSWORD) != known_hash


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        pytest.param(PASSWORD, True, id="correct"),
        pytest.param(PASSWORD + " ", False, id="trailing-space"),
        pytest.param(PASSWORD.upper(), False, id="case"),
        pytest.param("", False, id="empty"),
        pytest.param("wrong password", False, id="wrong"),
    ],
)
def test_verify(known_hash: str, candidate: str, expected: bool) -> None:
    assert verify_password(known_hash, candidate) is expected


@pytest.mark.parametrize(
    "bad_hash",
    [
        pytest.param("", id="empty"),
        pytest.param("not-a-hash", id="garbage"),
        pytest.param("$argon2id$", id="truncated-prefix"),
        pytest.param("$2b$12$abcdefghijklmnopqrstuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu", id="bcrypt"),
    ],
)
def test_verify_invalid_hash_returns_false(bad_hash: str) -> None:
    assert verify_password(bad_hash, PASSWORD) is False


def test_fresh_hash_needs_no_rehash(known_hash: str) -> None:
    assert needs_rehash(known_hash) is False


def test_burn_verification_time_returns_none() -> None:
    assert burn_verification_time(PASSWORD) is None
