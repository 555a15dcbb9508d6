from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from textfromtrack.db import schema_is_current
from textfromtrack.deps import DatabaseDep
from textfromtrack.errors import envelope

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(db: DatabaseDep) -> dict[str, Any] | JSONResponse:
    """The database answers and its schema is at the newest migration (readiness)."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        return JSONResponse(
            envelope("internal_error", "Database unreachable.", {"database": type(exc).__name__}),
            status_code=503,
        )
    if not schema_is_current(db):
        return JSONResponse(
            envelope(
                "internal_error",
                "Database migrations are not at head; run `tft migrate`.",
                {"migrations": "behind"},
            ),
            status_code=503,
        )
    return {"status": "ready", "database": db.engine.dialect.name, "migrations": "head"}
