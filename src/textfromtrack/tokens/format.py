"""The personal access token format: ``tft_pat_`` + 37 random base62 + 6 base62 CRC32.

The checksum lets anyone (a secret scanner, our own server) reject a mistyped or
made-up token without a database lookup. Pure functions, table-tested.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

PREFIX = "tft_pat_"
BODY_LENGTH = 43
CHECKSUM_LENGTH = 6
RANDOM_LENGTH = BODY_LENGTH - CHECKSUM_LENGTH
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{BODY_LENGTH}}}$")


def base62(number: int, width: int) -> str:
    if number < 0:
        raise ValueError("base62 takes non-negative numbers")
    digits = []
    rest = number
    while rest:
        rest, rem = divmod(rest, 62)
        digits.append(ALPHABET[rem])
    text = "".join(reversed(digits)).rjust(width, "0")
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base62 digits")
    return text


def checksum(random_part: str) -> str:
    # 62**6 > 2**32, so every CRC32 fits in six digits.
    return base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate() -> str:
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + random_part + checksum(random_part)


def is_well_formed(token: str) -> bool:
    """Shape and checksum only; says nothing about whether the token exists."""
    if not _SHAPE.match(token):
        return False
    body = token[len(PREFIX) :]
    return secrets.compare_digest(checksum(body[:RANDOM_LENGTH]), body[RANDOM_LENGTH:])


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
