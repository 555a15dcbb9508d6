"""Every instant on the wire is RFC 3339 UTC to the second with Z (textfromtrack.timestamps)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from support import Account
from textfromtrack.timestamps import rfc3339

SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


@pytest.mark.parametrize(
    ("moment", "wire"),
    [
        (datetime(2026, 5, 8, 10, 0, 0, tzinfo=UTC), "2026-05-08T10:00:00Z"),
        (datetime(2026, 5, 8, 10, 0, 13, 999999, tzinfo=UTC), "2026-05-08T10:00:13Z"),
        (
            datetime(2026, 5, 8, 12, 0, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-05-08T10:00:00Z",
        ),
        (datetime(2026, 5, 8, 10, 0, 0), "2026-05-08T10:00:00Z"),  # naive: stored UTC
    ],
)
def test_rfc3339(moment: datetime, wire: str) -> None:
    assert rfc3339(moment) == wire


def test_token_and_session_timestamps_on_the_wire(client: TestClient, account: Account) -> None:
    headers = account.web
    created = client.post("/api/auth/tokens", json={"name": "t"}, headers=headers).json()
    listed = client.get("/api/auth/tokens", headers=headers).json()
    session = client.get("/api/auth/session", headers=headers).json()
    for value in (created["created_at"], listed[0]["created_at"], session["expires_at"]):
        assert re.match(SHAPE, value), value
