"""The authorization matrix through real HTTP, on every configured database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from support import PASSWORD, Account, assert_envelope, bearer, make_account, make_token
from textfromtrack.db import Database, utcnow
from textfromtrack.deps import ReadCaller, WriteCaller
from textfromtrack.tokens.models import ApiToken


def test_token_on_v1_is_accepted(client: TestClient, account: Account) -> None:
    token = make_token(client, account)["token"]
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 200
    assert r.json() == {
        "user_id": account.user_id,
        "email": account.email,
        "credit_balance": 10,
        "top_up_url": "https://example.com/top-up",
        "scopes_granted": ["transcriptions:read", "transcriptions:write"],
    }


def test_web_jwt_on_v1_is_401(client: TestClient, account: Account) -> None:
    assert_envelope(client.get("/api/v1/me", headers=account.web), 401, "unauthorized")


def test_web_cookie_on_v1_is_401(client: TestClient, account: Account) -> None:
    client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert client.cookies.get("tft_session")
    assert_envelope(client.get("/api/v1/me"), 401, "unauthorized")


def test_token_on_token_management_is_401(client: TestClient, account: Account) -> None:
    token = make_token(client, account)["token"]
    assert_envelope(client.get("/api/auth/tokens", headers=bearer(token)), 401, "unauthorized")
    r = client.post("/api/auth/tokens", json={"name": "x"}, headers=bearer(token))
    assert_envelope(r, 401, "unauthorized")
    assert_envelope(client.get("/api/auth/session", headers=bearer(token)), 401, "unauthorized")


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/auth/tokens", "/api/auth/session"])
def test_no_credentials_is_401(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert_envelope(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token tft_pat_x", "bearer nonsense"],
)
def test_garbage_authorization_is_401(client: TestClient, header: str) -> None:
    assert_envelope(
        client.get("/api/v1/me", headers={"Authorization": header}), 401, "unauthorized"
    )


def test_revoked_token_is_401_on_the_next_request(client: TestClient, account: Account) -> None:
    created = make_token(client, account)
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    r = client.delete(f"/api/auth/tokens/{created['id']}", headers=account.web)
    assert r.status_code == 204
    assert_envelope(client.get("/api/v1/me", headers=bearer(created["token"])), 401, "unauthorized")
    # Idempotent: again, and for ids that do not exist or are not ours.
    assert (
        client.delete(f"/api/auth/tokens/{created['id']}", headers=account.web).status_code == 204
    )
    assert client.delete("/api/auth/tokens/nope", headers=account.web).status_code == 204
    listed = client.get("/api/auth/tokens", headers=account.web).json()
    assert listed[0]["revoked"] is True and listed[0]["revoked_at"]


def test_revoking_another_users_token_does_nothing(client: TestClient, account: Account) -> None:
    other = make_account(client)
    created = make_token(client, other)
    assert (
        client.delete(f"/api/auth/tokens/{created['id']}", headers=account.web).status_code == 204
    )
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200


def test_expired_token_is_401(client: TestClient, account: Account, database: Database) -> None:
    created = make_token(client, account, expires_in_days=1)
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    with database.session() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _auth_cache_expires(client)
    assert_envelope(client.get("/api/v1/me", headers=bearer(created["token"])), 401, "unauthorized")
    listed = client.get("/api/auth/tokens", headers=account.web).json()
    assert listed[0]["expired"] is True and listed[0]["revoked"] is False


def _mutations(token: str) -> list[str]:
    out = []
    for pos in (8, 20, 44, len(token) - 1):  # first body char, middle, checksum, last
        ch = token[pos]
        out.append(token[:pos] + ("A" if ch != "A" else "B") + token[pos + 1 :])
    return out


def test_one_mutated_character_is_401(client: TestClient, account: Account) -> None:
    token = make_token(client, account)["token"]
    for mutated in _mutations(token):
        assert_envelope(client.get("/api/v1/me", headers=bearer(mutated)), 401, "unauthorized")


def test_malformed_token_is_refused_before_any_lookup(
    client: TestClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = make_token(client, account)["token"]
    from sqlalchemy.orm import Session

    looked_up: list[object] = []
    real_scalar = Session.scalar

    def spy(self: Session, stmt: object, *a: object, **kw: object) -> object:
        if "api_tokens" in str(stmt):
            looked_up.append(stmt)
        return real_scalar(self, stmt, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Session, "scalar", spy)
    for bad in [*_mutations(token), "tft_pat_short", token + "x", "x" * 51]:
        assert client.get("/api/v1/me", headers=bearer(bad)).status_code == 401
    assert looked_up == []
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert len(looked_up) == 1


def test_read_only_scope_is_403_on_a_write_route(client: TestClient, account: Account) -> None:
    # The jobs routes arrive later; exercise the reusable scope dependency on probe routes.
    probe = APIRouter()

    @probe.post("/api/v1/_probe/write")
    def write(caller: WriteCaller) -> dict[str, str]:
        return {"ok": caller.user.id}

    @probe.get("/api/v1/_probe/read")
    def read(caller: ReadCaller) -> dict[str, str]:
        return {"ok": caller.user.id}

    client.app.include_router(probe)  # type: ignore[attr-defined]
    read_only = make_token(client, account, scopes=["transcriptions:read"])["token"]
    write_only = make_token(client, account, scopes=["transcriptions:write"])["token"]
    err = assert_envelope(
        client.post("/api/v1/_probe/write", headers=bearer(read_only)), 403, "forbidden"
    )
    assert err["details"] == {"required_scope": "transcriptions:write"}
    assert client.get("/api/v1/_probe/read", headers=bearer(read_only)).status_code == 200
    assert client.post("/api/v1/_probe/write", headers=bearer(write_only)).status_code == 200
    assert_envelope(client.get("/api/v1/_probe/read", headers=bearer(write_only)), 403, "forbidden")
    me = client.get("/api/v1/me", headers=bearer(read_only)).json()
    assert me["scopes_granted"] == ["transcriptions:read"]


def test_suspended_account_is_403_everywhere(
    client: TestClient, account: Account, database: Database
) -> None:
    token = make_token(client, account)["token"]
    from textfromtrack.accounts import service

    with database.session() as s:
        service.set_suspended(s, account.email, True)
    _auth_cache_expires(client)
    assert_envelope(client.get("/api/v1/me", headers=bearer(token)), 403, "forbidden")
    r = client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_envelope(r, 403, "forbidden")
    # Suspension ended the live web session too.
    assert_envelope(client.get("/api/auth/tokens", headers=account.web), 401, "unauthorized")
    with database.session() as s:
        service.set_suspended(s, account.email, False)
    _auth_cache_expires(client)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_token_plaintext_appears_once(
    client: TestClient, account: Account, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    created = make_token(client, account)
    plaintext = created["token"]
    assert created["last_four"] == plaintext[-4:]
    responses = [
        client.get("/api/auth/tokens", headers=account.web),
        client.get("/api/v1/me", headers=bearer(plaintext)),
        client.get("/api/auth/session", headers=account.web),
    ]
    for r in responses:
        assert r.status_code == 200
        assert plaintext not in r.text
        assert plaintext[8:] not in r.text
    listed = responses[0].json()[0]
    assert "token" not in listed and "token_hash" not in listed
    with database.engine.connect() as conn:
        for table in ("api_tokens", "users", "web_sessions", "credit_entries"):
            rows = conn.exec_driver_sql(f"SELECT * FROM {table}").all()
            assert plaintext[8:] not in repr(rows)
    with database.session() as s:
        stored = s.scalar(select(ApiToken.token_hash))
    assert stored is not None and len(stored) == 64
    assert plaintext not in caplog.text


def test_last_used_at_is_updated_at_most_once_a_minute(
    client: TestClient, account: Account, database: Database
) -> None:
    created = make_token(client, account)
    assert client.get("/api/auth/tokens", headers=account.web).json()[0]["last_used_at"] is None
    client.get("/api/v1/me", headers=bearer(created["token"]))
    first = client.get("/api/auth/tokens", headers=account.web).json()[0]["last_used_at"]
    assert first is not None
    _auth_cache_expires(client)
    client.get("/api/v1/me", headers=bearer(created["token"]))
    assert client.get("/api/auth/tokens", headers=account.web).json()[0]["last_used_at"] == first
    backdated = utcnow() - timedelta(seconds=61)
    with database.session() as s:
        s.execute(update(ApiToken).values(last_used_at=backdated))
    _auth_cache_expires(client)
    client.get("/api/v1/me", headers=bearer(created["token"]))
    later = client.get("/api/auth/tokens", headers=account.web).json()[0]["last_used_at"]
    # Timestamps are shown to the second: the new one is a minute past the backdated one.
    assert datetime.fromisoformat(later) >= backdated + timedelta(seconds=60)


def _auth_cache_expires(client: TestClient) -> None:
    """What TFT_AUTH_CACHE_SECONDS brings about for a change made outside this server."""
    client.app.state.auth_cache.clear()  # type: ignore[attr-defined]
