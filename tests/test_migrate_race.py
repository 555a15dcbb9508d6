"""Two servers starting at once on an empty database both end at head.

On PostgreSQL the second used to exit with a duplicate key on alembic_version; the
migration now takes a transaction-level advisory lock keyed by the schema."""

from __future__ import annotations

import threading

from sqlalchemy import text

from textfromtrack.db import Database, migrate, schema_is_current


def test_concurrent_migrations_of_an_empty_database(database_url: str) -> None:
    dbs = [Database(database_url) for _ in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(dbs))

    def run(db: Database) -> None:
        try:
            start.wait(timeout=30)
            migrate(db)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        assert all(schema_is_current(db) for db in dbs)
        with dbs[0].engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        for db in dbs:
            db.dispose()
