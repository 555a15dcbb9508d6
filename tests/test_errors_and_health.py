"""The error envelope on framework errors, crashes, and the health and docs endpoints."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import text

from support import assert_envelope
from textfromtrack.db import Database


def test_unknown_route_is_404_envelope(client: TestClient) -> None:
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_envelope(client: TestClient) -> None:
    r = client.put("/api/auth/login", json={})
    assert_envelope(r, 405, "validation_error")
    assert "POST" in r.headers.get("allow", "")


def test_validation_error_lists_fields(client: TestClient) -> None:
    err = assert_envelope(
        client.post("/api/auth/login", json={"email": 5}), 400, "validation_error"
    )
    assert set(err["details"]["fields"]) == {"email", "password"}


def test_unexpected_exception_is_500_without_a_stack_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    boom = APIRouter()

    @boom.get("/api/v1/_boom")
    def explode() -> None:
        raise RuntimeError("secret internals")

    client.app.include_router(boom)  # type: ignore[attr-defined]
    caplog.set_level(logging.ERROR)
    r = client.get("/api/v1/_boom", headers={"X-Request-ID": "req-123"})
    err = assert_envelope(r, 500, "internal_error")
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert err["details"] == {"request_id": "req-123"}
    assert r.headers["X-Request-ID"] == "req-123"
    assert "req-123" in caplog.text and "secret internals" in caplog.text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_and_migrations(client: TestClient, database: Database) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["migrations"] == "head"
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    assert_envelope(client.get("/readyz"), 503, "internal_error")


def test_readyz_when_database_is_gone(tmp_path: object) -> None:
    from textfromtrack.config import Settings
    from textfromtrack.main import create_app

    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )  # type: ignore[arg-type]
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert_envelope(c.get("/readyz"), 503, "internal_error")


def test_openapi_documents_the_bearer_schemes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["PersonalAccessToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["PersonalAccessToken"]["description"],
    }
    assert "WebSession" in schemes and "WebSessionCookie" in schemes
    assert {"PersonalAccessToken": []} in spec["paths"]["/api/v1/me"]["get"]["security"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_swagger_ui_is_served_from_this_instance(client: TestClient) -> None:
    """No CDN: a self-hosted instance on an offline machine still shows its API docs."""
    page = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert sorted(assets) == ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]
    assert "cdn" not in page.lower() and "'/openapi.json'" in page
    for url in assets:
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100_000, url
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"]
    assert_envelope(client.get("/docs/assets/nothing.js"), 404, "not_found")
