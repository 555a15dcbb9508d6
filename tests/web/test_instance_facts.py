"""The developer page, /me and the account page describe this instance, not another one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from support import bearer, make_account, make_token
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.main import create_app
from textfromtrack.pipeline import inventory
from web.conftest import sign_up


def test_unset_top_up_url_points_at_this_instance_and_hides_the_link(
    settings: Settings, database: Database
) -> None:
    settings = settings.model_copy(
        update={"top_up_url": None, "public_base_url": "http://tft.example.org"}
    )
    with TestClient(create_app(settings, database)) as c:
        account = make_account(c)
        token = make_token(c, account)["token"]
        me = c.get("/api/v1/me", headers=bearer(token)).json()
        assert me["top_up_url"] == "http://tft.example.org/app/account"
        assert "app.textfromtrack.com" not in c.get("/developers").text
        sign_up(c)
        page = c.get("/app/account").text
        assert "Top up credits" not in page and 'id="no-top-up"' in page


def test_developer_page_names_the_models_and_separator_that_run_here(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline with no local copy of large-v3: vintage jobs run the standard model.
    monkeypatch.setattr("textfromtrack.pipeline.engines.select.hubs_reachable", lambda *a: False)
    monkeypatch.setattr("textfromtrack.pipeline.separation.select.hubs_reachable", lambda *a: False)
    with TestClient(create_app(settings, database)) as c:
        page = c.get("/developers").text
    resolved = inventory.resolve(settings)
    assert resolved.vintage_model == "base"
    assert "Whisper large-v3" not in page
    assert "<strong>Whisper base (local).</strong>" in page
    assert "large-v3 cannot load here" in page
    if resolved.separator == "spleeter":
        assert "Vocal separation with Spleeter 2-stem" in page
    else:
        assert "cannot separate vocals" in page
