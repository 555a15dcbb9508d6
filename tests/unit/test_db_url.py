"""Database URLs as people write them reach the installed driver (psycopg 3)."""

from __future__ import annotations

import pytest

from textfromtrack.db import normalise_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        (
            "postgres://u:p@h:5433/db?sslmode=require",
            "postgresql+psycopg://u:p@h:5433/db?sslmode=require",
        ),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        (
            "postgresql+psycopg2://u@h/db",
            "postgresql+psycopg2://u@h/db",
        ),  # an explicit choice stays
        ("sqlite:///./data/tft.db", "sqlite:///./data/tft.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_normalise_url(given: str, used: str) -> None:
    assert normalise_url(given) == used
