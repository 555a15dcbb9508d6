from __future__ import annotations

import tempfile
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from textfromtrack.config import Settings
from textfromtrack.db import schema_is_current
from textfromtrack.deps import DatabaseDep, DispatcherDep, SettingsDep
from textfromtrack.errors import envelope
from textfromtrack.media import store
from textfromtrack.queue.base import Dispatcher

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


def _broker_problem(settings: Settings, dispatcher: Dispatcher) -> str | None:
    broker = getattr(dispatcher, "broker", None)
    if not settings.broker_url or broker is None:
        return None
    from textfromtrack.queue.dramatiq import queue_depths

    try:
        queue_depths(broker, settings)
    except Exception as exc:  # any client error means "not ready"
        return type(exc).__name__
    return None


def _storage_problem(settings: Settings) -> str | None:
    """The data dir takes a file (uploads land there, or in its spool for a bucket, before
    anything else happens)."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir, prefix=".readyz-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


def _store_problem(settings: Settings) -> str | None:
    """A store other than the data dir (a bucket, another folder) takes requests."""
    if not settings.storage_url:
        return None  # the data dir itself, checked above
    return store.store_for(settings).check()


@router.get("/readyz", response_model=None)
def readyz(
    db: DatabaseDep, settings: SettingsDep, dispatcher: DispatcherDep
) -> dict[str, Any] | JSONResponse:
    """The database answers and its schema is at the newest migration, the broker (when
    one is configured) answers, the data dir is writable and the file store (a bucket, when
    ``TFT_STORAGE_URL`` names one) answers (readiness)."""
    problems: dict[str, str] = {}
    messages: list[str] = []
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        problems["database"] = type(exc).__name__
        messages.append("Database unreachable.")
    else:
        if not schema_is_current(db):
            problems["migrations"] = "behind"
            messages.append("Database migrations are not at head; run `tft migrate`.")
    broker = _broker_problem(settings, dispatcher)
    if broker and settings.ready_needs_broker:
        problems["broker"] = broker
        messages.append("Broker unreachable.")
    if storage := _storage_problem(settings):
        problems["storage"] = storage
        messages.append("The data dir is not writable.")
    elif files := _store_problem(settings):
        problems["storage"] = files
        messages.append(f"The file store ({store.store_for(settings).describe()}) is unreachable.")
    if problems:
        return JSONResponse(
            envelope("internal_error", " ".join(messages), problems), status_code=503
        )
    return {
        "status": "ready",
        "database": db.engine.dialect.name,
        "migrations": "head",
        "broker": "unreachable" if broker else "ok" if settings.broker_url else "none",
        "storage": "ok",
    }
