"""Pure parts of upload intake and account protection, as tables."""

from __future__ import annotations

import pytest

from textfromtrack.accounts.service import lockout_delay, login_address, throttle_keys
from textfromtrack.errors import RateLimited, ValidationFailed
from textfromtrack.intake import UploadSlots, parse_flag
from textfromtrack.jobs.service import display_filename


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("song.mp3", "song.mp3"),
        ("nul\x00byte.mp3", "nulbyte.mp3"),
        ("bell\x07ring.mp3", "bellring.mp3"),
        ("line\nbreak\r\n.mp3", "linebreak.mp3"),
        ("tab\there.mp3", "tabhere.mp3"),
        ("c1\x85\x9bcontrol.mp3", "c1control.mp3"),
        ("evil\u202egpj.exe.mp3", "evilgpj.exe.mp3"),
        ("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069x.mp3", "x.mp3"),
        ("\u200e\u200f\u061cmarks.mp3", "marks.mp3"),
        ("sep\u2028\u2029.mp3", "sep.mp3"),
        ("\ufeffbom.mp3", "bom.mp3"),
        ("../../etc/passwd.mp3", "passwd.mp3"),
        ("C:\\Users\\me\\song.mp3", "song.mp3"),
        ("Cafe\u0301.mp3", "Caf\u00e9.mp3"),
        ("  padded.mp3  ", "padded.mp3"),
        ("👩\u200d👩\u200d👧 family.mp3", "👩\u200d👩\u200d👧 family.mp3"),  # ZWJ kept
        ("\x00\u202e", "upload"),
        ("", "upload"),
        ("a" * 300 + ".mp3", "a" * 255),
    ],
)
def test_display_filename(given: str, kept: str) -> None:
    assert display_filename(given) == kept


@pytest.mark.parametrize(
    ("failures", "limit", "cap", "delay"),
    [
        (1, 5, 900, 0),
        (4, 5, 900, 0),
        (5, 5, 900, 2),
        (6, 5, 900, 4),
        (7, 5, 900, 8),
        (13, 5, 900, 512),
        (14, 5, 900, 900),
        (10_000, 5, 900, 900),
        (1, 1, 60, 2),
        (3, 1, 5, 5),
    ],
)
def test_lockout_delays_grow_to_the_cap(failures: int, limit: int, cap: int, delay: int) -> None:
    assert lockout_delay(failures, limit, cap) == delay


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("José@Example.com", "josé@example.com"),
        ("Jose\u0301@example.com", "josé@example.com"),
        ("  ME@EXAMPLE.COM ", "me@example.com"),
        ("not an email", "not an email"),
        ("NOT AN EMAIL", "not an email"),
    ],
)
def test_login_address_matches_sign_up(typed: str, address: str) -> None:
    assert login_address(typed) == address


def test_throttle_keys_pair_the_account_with_the_address() -> None:
    assert throttle_keys("me@example.com", "203.0.113.1") == [
        "acct:me@example.com|203.0.113.1",
        "ip:203.0.113.1",
    ]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (None, False),
        ("", False),
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("off", False),
        (" true ", True),
    ],
)
def test_form_flags(raw: str | None, value: bool) -> None:
    assert parse_flag("pinyin", raw) is value


@pytest.mark.parametrize("raw", ["maybe", "2", "truee", "null"])
def test_bad_form_flags_are_400(raw: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_flag("vintage", raw)
    assert err.value.details == {"fields": {"vintage": "must be true or false"}}


def _refused(slots: UploadSlots, user: str, address: str) -> str:
    with pytest.raises(RateLimited) as err, slots.hold(user, address):
        pass
    assert err.value.headers["Retry-After"] == "5"
    return str(err.value.details["scope"])


def test_upload_slots_limit_total_per_user_and_per_address() -> None:
    slots = UploadSlots(total=4, per_user=2, per_ip=2)
    with slots.hold("u1", "a"), slots.hold("u1", "b"):
        assert _refused(slots, "u1", "c") == "user_uploads"
        with slots.hold("u2", "a"):
            assert _refused(slots, "u3", "a") == "ip_uploads"
        with slots.hold("u2", "c"), slots.hold("u3", "d"):
            assert slots.in_flight == 4
            assert _refused(slots, "u4", "e") == "uploads"
    assert slots.in_flight == 0
    with slots.hold("u1", "a"), slots.hold("u1", "a"):
        pass  # everything was released, refusals included


def test_a_slot_is_released_when_the_upload_fails() -> None:
    slots = UploadSlots(total=1, per_user=1, per_ip=1)
    with pytest.raises(ValueError), slots.hold("u", "a"):
        raise ValueError("client went away")
    with slots.hold("u", "a"):
        assert slots.in_flight == 1
