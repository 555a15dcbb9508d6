"""Registration, login, sessions and throttling through real HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from support import PASSWORD, Account, assert_envelope, make_account


def test_register_grants_signup_credits_through_the_ledger(client: TestClient) -> None:
    r = client.post("/api/auth/register", json={"email": "New@Example.com", "password": PASSWORD})
    assert r.status_code == 201
    body = r.json()
    assert body["email"] == "new@example.com"
    assert body["credit_balance"] == 10
    assert "password" not in r.text and "hash" not in r.text


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "x" * 2000}, "password"),
    ],
)
def test_register_rejects_bad_input(
    client: TestClient, payload: dict[str, str], field: str
) -> None:
    err = assert_envelope(client.post("/api/auth/register", json=payload), 400, "validation_error")
    assert field in err["details"]["fields"]


def test_register_twice_is_refused_without_a_second_account(client: TestClient) -> None:
    make_account(client, "twice@example.com")
    r = client.post("/api/auth/register", json={"email": "TWICE@example.com", "password": PASSWORD})
    assert_envelope(r, 400, "validation_error")


def test_register_with_a_non_json_body_is_400(client: TestClient) -> None:
    r = client.post(
        "/api/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_envelope(r, 400, "validation_error")


def test_login_sets_an_httponly_lax_cookie_and_returns_the_jwt(
    client: TestClient, account: Account
) -> None:
    r = client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("tft_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    # The cookie alone is a web session.
    s = client.get("/api/auth/session")
    assert s.status_code == 200 and s.json()["email"] == account.email


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: TestClient, account: Account
) -> None:
    wrong = client.post(
        "/api/auth/login", json={"email": account.email, "password": "wrong password!"}
    )
    unknown = client.post(
        "/api/auth/login", json={"email": "ghost@example.com", "password": "wrong password!"}
    )
    a = assert_envelope(wrong, 401, "unauthorized")
    b = assert_envelope(unknown, 401, "unauthorized")
    assert a == b


def test_login_is_throttled_after_repeated_failures(client: TestClient, account: Account) -> None:
    for _ in range(5):
        r = client.post(
            "/api/auth/login", json={"email": account.email, "password": "wrong password!"}
        )
        assert r.status_code == 401
    r = client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_envelope(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # Another account from the same address is not locked out by these five.
    other = make_account(client)
    assert (
        client.post(
            "/api/auth/login", json={"email": other.email, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_throttle_applies_to_unknown_emails_too(client: TestClient) -> None:
    for _ in range(5):
        client.post(
            "/api/auth/login", json={"email": "ghost@example.com", "password": "nope nope nope"}
        )
    r = client.post(
        "/api/auth/login", json={"email": "ghost@example.com", "password": "nope nope nope"}
    )
    assert_envelope(r, 429, "rate_limited")


def test_success_resets_the_failure_count(client: TestClient, account: Account) -> None:
    for _ in range(4):
        client.post("/api/auth/login", json={"email": account.email, "password": "wrong password!"})
    assert (
        client.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        ).status_code
        == 200
    )
    for _ in range(4):
        client.post("/api/auth/login", json={"email": account.email, "password": "wrong password!"})
    assert (
        client.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_logout_ends_the_session_for_cookie_and_bearer(
    client: TestClient, account: Account
) -> None:
    assert client.get("/api/auth/session", headers=account.web).status_code == 200
    r = client.post("/api/auth/logout", headers=account.web)
    assert r.status_code == 204
    assert 'tft_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert_envelope(client.get("/api/auth/session", headers=account.web), 401, "unauthorized")
    # Logging out twice, or with no session at all, is harmless.
    assert client.post("/api/auth/logout").status_code == 204


def test_session_reports_user_and_expiry(client: TestClient, account: Account) -> None:
    body = client.get("/api/auth/session", headers=account.web).json()
    assert body["user_id"] == account.user_id
    assert body["credit_balance"] == 10
    assert body["expires_at"]


@pytest.mark.parametrize(
    "token",
    [
        "not.a.jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ],
)
def test_forged_session_tokens_are_401(client: TestClient, token: str) -> None:
    assert_envelope(
        client.get("/api/auth/session", headers={"Authorization": f"Bearer {token}"}),
        401,
        "unauthorized",
    )


def test_jwt_signed_with_another_key_is_401(client: TestClient, account: Account) -> None:
    import jwt

    claims = jwt.decode(account.jwt, options={"verify_signature": False})
    forged = jwt.encode(claims, "some-other-key-of-sufficient-length-000", algorithm="HS256")
    assert_envelope(
        client.get("/api/auth/session", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "unauthorized",
    )


def test_token_create_validation(client: TestClient, account: Account) -> None:
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x", "scopes": ["admin"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 99999}, "expires_in_days"),
    ]
    for payload, field in cases:
        err = assert_envelope(
            client.post("/api/auth/tokens", json=payload, headers=account.web),
            400,
            "validation_error",
        )
        assert field in err["details"]["fields"], (payload, err)
    assert client.get("/api/auth/tokens", headers=account.web).json() == []


def test_token_listing_is_newest_first_and_per_user(client: TestClient, account: Account) -> None:
    names = ["first", "second", "third"]
    for name in names:
        r = client.post("/api/auth/tokens", json={"name": name}, headers=account.web)
        assert r.status_code == 201
        created = r.json()
        assert set(created) == {
            "id",
            "name",
            "token",
            "scopes",
            "last_four",
            "created_at",
            "expires_at",
        }
        assert created["token"].startswith("tft_pat_") and len(created["token"]) == 51
    listed = client.get("/api/auth/tokens", headers=account.web).json()
    assert [t["name"] for t in listed] == list(reversed(names))
    assert all(
        set(t)
        >= {
            "id",
            "name",
            "scopes",
            "last_four",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked",
        }
        for t in listed
    )
    other = make_account(client)
    assert client.get("/api/auth/tokens", headers=other.web).json() == []
