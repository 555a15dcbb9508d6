"""Table tests for client_ip: whose X-Forwarded-For is believed, and which hop wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request

from textfromtrack.config import Settings
from textfromtrack.deps import _is_trusted, client_ip


def _request(peer: str | None, forwarded: str | None = None) -> Request:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode("latin-1"))]
    scope = {
        "type": "http",
        "headers": headers,
        "client": None if peer is None else (peer, 1234),
        "method": "GET",
        "path": "/",
        "query_string": b"",
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        # No trusted proxies: the header is never believed.
        pytest.param([], "203.0.113.9", None, "203.0.113.9", id="no-proxies-no-header"),
        pytest.param([], "203.0.113.9", "1.2.3.4", "203.0.113.9", id="no-proxies-ignores-xff"),
        pytest.param([], "10.0.0.5", "1.2.3.4, 10.0.0.5", "10.0.0.5", id="no-proxies-private"),
        # Peer in a trusted range: the rightmost untrusted hop is the client.
        pytest.param(["10.0.0.0/8"], "10.0.0.5", "1.2.3.4", "1.2.3.4", id="one-hop"),
        pytest.param(
            ["10.0.0.0/8"],
            "10.0.0.5",
            "6.6.6.6, 1.2.3.4",
            "1.2.3.4",
            id="spoofed-left-hop-ignored",
        ),
        pytest.param(
            ["10.0.0.0/8"],
            "10.0.0.5",
            "6.6.6.6, 1.2.3.4, 10.1.1.1, 10.2.2.2",
            "1.2.3.4",
            id="skips-trusted-right-hops",
        ),
        pytest.param(
            ["10.0.0.0/8", "127.0.0.1"],
            "127.0.0.1",
            "198.51.100.7,10.0.0.2",
            "198.51.100.7",
            id="exact-address-and-cidr",
        ),
        pytest.param(
            ["10.0.0.0/8"], "10.0.0.5", " 1.2.3.4 ,  10.9.9.9 ", "1.2.3.4", id="whitespace"
        ),
        pytest.param(["10.0.0.0/8"], "10.0.0.5", "1.2.3.4,,10.9.9.9,", "1.2.3.4", id="empty-hops"),
        pytest.param(["fd00::/8"], "fd00::1", "2001:db8::42, fd00::2", "2001:db8::42", id="ipv6"),
        # A hop that is not an IP address is untrusted, so it is what comes back.
        pytest.param(["10.0.0.0/8"], "10.0.0.5", "1.2.3.4, garbage", "garbage", id="junk-hop"),
        # Every hop trusted: the leftmost hop.
        pytest.param(
            ["10.0.0.0/8"], "10.0.0.5", "10.1.1.1, 10.2.2.2", "10.1.1.1", id="all-hops-trusted"
        ),
        pytest.param(["10.0.0.0/8"], "10.0.0.5", "10.1.1.1", "10.1.1.1", id="single-trusted"),
        # Trusted peer but no usable header: the peer.
        pytest.param(["10.0.0.0/8"], "10.0.0.5", None, "10.0.0.5", id="trusted-no-header"),
        pytest.param(["10.0.0.0/8"], "10.0.0.5", "", "10.0.0.5", id="trusted-empty-header"),
        pytest.param(["10.0.0.0/8"], "10.0.0.5", " , ", "10.0.0.5", id="trusted-blank-hops"),
        # Peer not trusted: the peer, whatever the header says.
        pytest.param(["10.0.0.0/8"], "203.0.113.9", "1.2.3.4", "203.0.113.9", id="untrusted"),
        pytest.param(
            ["10.0.0.0/8"], "11.0.0.1", "1.2.3.4", "11.0.0.1", id="untrusted-just-outside"
        ),
        # Invalid entries in the trusted list are skipped, valid ones still apply.
        pytest.param(
            ["not-an-ip", "10.0.0.0/33", "10.0.0.0/8"],
            "10.0.0.5",
            "1.2.3.4",
            "1.2.3.4",
            id="invalid-entries-skipped",
        ),
        pytest.param(
            ["not-an-ip", "999.1.1.1"],
            "10.0.0.5",
            "1.2.3.4",
            "10.0.0.5",
            id="only-invalid-entries",
        ),
        pytest.param(
            ["bogus", "127.0.0.1"],
            "127.0.0.1",
            "1.2.3.4, bogus",
            "bogus",
            id="hop-equal-to-invalid-entry-not-trusted",
        ),
        # No client on the scope at all.
        pytest.param([], None, "1.2.3.4", "unknown", id="no-client"),
        pytest.param(["10.0.0.0/8"], None, "1.2.3.4", "unknown", id="no-client-with-proxies"),
    ],
)
def test_client_ip(
    tmp_path: Path,
    trusted: list[str],
    peer: str | None,
    forwarded: str | None,
    expected: str,
) -> None:
    settings = Settings(data_dir=tmp_path, trusted_proxies=trusted)
    assert client_ip(_request(peer, forwarded), settings) == expected


@pytest.mark.parametrize(
    ("address", "trusted", "expected"),
    [
        ("10.0.0.1", ["10.0.0.0/8"], True),
        ("::ffff:10.0.0.5", ["10.0.0.0/8"], True),
        ("10.255.255.255", ["10.0.0.0/8"], True),
        ("11.0.0.0", ["10.0.0.0/8"], False),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.2", ["127.0.0.1"], False),
        # Host bits set in the entry are tolerated (strict=False).
        ("192.168.1.77", ["192.168.1.1/24"], True),
        ("::1", ["::1"], True),
        ("::1", ["127.0.0.1"], False),
        ("10.0.0.1", ["fd00::/8"], False),
        ("10.0.0.1", [], False),
        ("unknown", ["10.0.0.0/8"], False),
        ("", ["10.0.0.0/8"], False),
        ("10.0.0.1", ["junk", "10.0.0.0/33", "10.0.0.0/8"], True),
        ("10.0.0.1", ["junk", ""], False),
    ],
)
def test_is_trusted(address: str, trusted: list[str], expected: bool) -> None:
    assert _is_trusted(address, trusted) is expected
