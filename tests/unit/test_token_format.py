"""Table tests for the personal access token format (pure functions)."""

from __future__ import annotations

import re

import pytest

from textfromtrack.tokens import format as fmt

BASE62 = re.compile(r"^[0-9A-Za-z]+$")
# A fixed, valid token: 37 random characters plus their 6-character checksum.
RANDOM_PART = "abcdefghijklmnopqrstuvwxyz0123456789A"
VALID = fmt.PREFIX + RANDOM_PART + fmt.checksum(RANDOM_PART)


def _mutate(token: str, index: int) -> str:
    """Replace one character with a different base62 character."""
    old = token[index]
    new = "0" if old != "0" else "1"
    return token[:index] + new + token[index + 1 :]


def test_fixture_token_is_valid() -> None:
    assert len(RANDOM_PART) == fmt.RANDOM_LENGTH
    assert fmt.is_well_formed(VALID)


# ---------------------------------------------------------------- generate


def test_generate_shape() -> None:
    token = fmt.generate()
    assert token.startswith("tft_pat_")
    body = token[len("tft_pat_") :]
    assert len(body) == 43
    assert BASE62.match(body)
    assert fmt.is_well_formed(token)


def test_generate_unique_and_well_formed_over_1000() -> None:
    tokens = [fmt.generate() for _ in range(1000)]
    assert len(set(tokens)) == 1000
    assert all(fmt.is_well_formed(t) for t in tokens)


# ---------------------------------------------------------------- base62


def _decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 62 + fmt.ALPHABET.index(char)
    return value


@pytest.mark.parametrize(
    "number",
    [0, 1, 61, 62, 63, 3843, 3844, 2**32 - 1, 62**6 - 1],
)
def test_base62_round_trip(number: int) -> None:
    encoded = fmt.base62(number, 6)
    assert len(encoded) == 6
    assert BASE62.match(encoded)
    assert _decode(encoded) == number


@pytest.mark.parametrize(
    ("number", "width", "expected"),
    [
        (0, 1, "0"),
        (0, 6, "000000"),
        (1, 6, "000001"),
        (61, 3, "00z"),
        (62, 3, "010"),
        (62**2, 3, "100"),
        (62**6 - 1, 6, "zzzzzz"),
    ],
)
def test_base62_width_padding(number: int, width: int, expected: str) -> None:
    assert fmt.base62(number, width) == expected


@pytest.mark.parametrize(
    ("number", "width"),
    [(62, 1), (62**6, 6), (62**3, 3), (1, 0)],
)
def test_base62_overflow_raises(number: int, width: int) -> None:
    with pytest.raises(ValueError, match=f"^{number} does not fit"):
        fmt.base62(number, width)


@pytest.mark.parametrize("number", [-1, -62, -(2**40)])
def test_base62_negative_raises(number: int) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        fmt.base62(number, 6)


def test_checksum_fits_six_digits_for_max_crc() -> None:
    # 62**6 > 2**32 - 1, so the largest CRC32 still fits.
    assert len(fmt.base62(2**32 - 1, fmt.CHECKSUM_LENGTH)) == fmt.CHECKSUM_LENGTH


# ---------------------------------------------------------------- is_well_formed


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        pytest.param(VALID, True, id="valid"),
        pytest.param("tft_pak_" + VALID[8:], False, id="wrong-prefix"),
        pytest.param("TFT_PAT_" + VALID[8:], False, id="upper-prefix"),
        pytest.param("tft_" + VALID[8:], False, id="short-prefix"),
        pytest.param(VALID[8:], False, id="no-prefix"),
        pytest.param(" " + VALID, False, id="leading-space"),
        pytest.param(VALID + " ", False, id="trailing-space"),
        pytest.param(VALID + "\n", False, id="trailing-newline"),
        pytest.param(VALID[:-1], False, id="42-chars"),
        pytest.param(VALID + "0", False, id="44-chars"),
        pytest.param(VALID[:20] + "-" + VALID[21:], False, id="dash"),
        pytest.param(VALID[:20] + "_" + VALID[21:], False, id="underscore"),
        pytest.param(VALID[:20] + "é" + VALID[21:], False, id="unicode-letter"),
        pytest.param(VALID[:20] + "٣" + VALID[21:], False, id="unicode-digit"),
        pytest.param("", False, id="empty"),
        pytest.param("tft_pat_", False, id="prefix-only"),
    ],
)
def test_is_well_formed(token: str, expected: bool) -> None:
    assert fmt.is_well_formed(token) is expected


_BODY_START = len(fmt.PREFIX)
_CHECKSUM_START = _BODY_START + fmt.RANDOM_LENGTH


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(_BODY_START, id="body-first"),
        pytest.param(_BODY_START + 1, id="body-second"),
        pytest.param(_BODY_START + 18, id="body-middle"),
        pytest.param(_CHECKSUM_START - 1, id="body-last"),
        pytest.param(_CHECKSUM_START, id="checksum-first"),
        pytest.param(_CHECKSUM_START + 3, id="checksum-middle"),
        pytest.param(len(VALID) - 1, id="checksum-last"),
    ],
)
def test_single_character_mutation_is_rejected(index: int) -> None:
    mutated = _mutate(VALID, index)
    assert mutated != VALID
    assert len(mutated) == len(VALID)
    assert not fmt.is_well_formed(mutated)


@pytest.mark.parametrize("index", range(_BODY_START, len(VALID)))
def test_every_body_position_substitution_is_rejected(index: int) -> None:
    # Try every other base62 character at this position; CRC32 catches any single change.
    for char in fmt.ALPHABET:
        if char == VALID[index]:
            continue
        mutated = VALID[:index] + char + VALID[index + 1 :]
        assert not fmt.is_well_formed(mutated), mutated


def test_case_flip_in_body_is_rejected() -> None:
    index = _BODY_START  # 'a' in RANDOM_PART
    mutated = VALID[:index] + VALID[index].upper() + VALID[index + 1 :]
    assert not fmt.is_well_formed(mutated)


# ---------------------------------------------------------------- digest


@pytest.mark.parametrize("token", [VALID, "", "tft_pat_x", "ünïcode"])
def test_digest_is_64_hex_and_stable(token: str) -> None:
    first = fmt.digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert fmt.digest(token) == first


def test_digest_differs_between_tokens() -> None:
    assert fmt.digest(VALID) != fmt.digest(_mutate(VALID, len(VALID) - 1))


def test_digest_known_value() -> None:
    # sha256("") is a well-known constant.
    assert fmt.digest("") == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
