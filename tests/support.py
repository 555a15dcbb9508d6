"""Helpers shared by the HTTP tests (imported as ``support``; tests/ is on sys.path)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    email: str
    user_id: str
    jwt: str

    @property
    def web(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}


def make_account(client: TestClient, email: str | None = None) -> Account:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    r = client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    user_id = r.json()["user_id"]
    r = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    # Tests pass credentials explicitly; a stored cookie would blur which one was used.
    client.cookies.clear()
    return Account(email=email, user_id=user_id, jwt=r.json()["access_token"])


def make_token(
    client: TestClient, account: Account, scopes: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "test", **extra}
    if scopes is not None:
        body["scopes"] = scopes
    r = client.post("/api/auth/tokens", json=body, headers=account.web)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return dict(body["error"])
