"""argon2id hashing. A dummy hash lets unknown emails cost the same time as wrong passwords."""

from __future__ import annotations

from functools import lru_cache

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from textfromtrack.config import PasswordHashProfile

# argon2-cffi's named parameter sets. The low-memory one is the library's own default
# (argon2id, 64 MiB, 3 passes, 4 lanes); "cheapest" exists for test suites only.
PROFILES: dict[PasswordHashProfile, Parameters] = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,
    "cheapest": profiles.CHEAPEST,
}

_hasher = PasswordHasher.from_parameters(PROFILES["rfc9106-low-memory"])


def use_profile(profile: PasswordHashProfile) -> None:
    """Hash new passwords (and re-hash old ones at their next login) with ``profile``.

    Process-wide, set once at start-up by the CLI from ``TFT_PASSWORD_HASH_PROFILE``:
    verifying reads each hash's own parameters, so hashes made under another profile
    still verify, and ``needs_rehash`` moves them to this one.
    """
    global _hasher
    _hasher = PasswordHasher.from_parameters(PROFILES[profile])
    _dummy_hash.cache_clear()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("timing-equaliser-not-a-password")


def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs, so response time does not reveal accounts."""
    verify_password(_dummy_hash(), password)
