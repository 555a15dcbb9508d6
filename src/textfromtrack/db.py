"""Database engine, the request session dependency and migrations.

The request's session owns the transaction: it commits when the handler returns
and rolls back when it raises, so services never commit themselves.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from textfromtrack.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
WRITE_LOCK_OPTION = "tft_write_lock"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class IdMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


@dataclass(frozen=True)
class PoolSettings:
    """Connection pool sizing. Requests hold a connection only for short transactions,
    never across client I/O (an upload, a wait), so a small pool serves many clients."""

    size: int = 10
    max_overflow: int = 20
    timeout_seconds: float = 30.0
    sqlite_busy_timeout_seconds: float = 30.0


def normalise_url(url: str) -> str:
    """Use the installed psycopg 3 for plain ``postgresql://`` and ``postgres://`` URLs.

    SQLAlchemy's default PostgreSQL driver is psycopg2, which is not installed; people
    write the plain form (and Heroku-style ``postgres://``), so accept both.
    """
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str, pool: PoolSettings | None = None) -> Engine:
    pool = pool or PoolSettings()
    url = normalise_url(url)
    parsed = make_url(url)
    sizing: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout_seconds,
    }
    if parsed.get_backend_name() == "sqlite":
        # Keep every connection SQLite opens: each costs a file open and four PRAGMAs,
        # and under 64 pollers the pool's overflow ones were opened and closed per
        # request (a sixth of a poll's CPU). Idle SQLite connections cost the server
        # nothing, unlike PostgreSQL's, whose overflow stays as configured.
        sizing = {**sizing, "pool_size": pool.size + pool.max_overflow, "max_overflow": 0}
        in_memory = not parsed.database or parsed.database == ":memory:"
        if not in_memory:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": pool.sqlite_busy_timeout_seconds,
            },
            # In-memory databases use a single-connection pool that takes no sizing.
            **({} if in_memory else sizing),
        )
        busy_ms = int(pool.sqlite_busy_timeout_seconds * 1000)
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, busy_ms))
        # pysqlite's own BEGIN handling is bypassed so SQLAlchemy's transactions are real;
        # sessions that must serialise (admission) ask for BEGIN IMMEDIATE via an option.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **sizing)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_ms: int = 30000) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN so the transaction is real.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_LOCK_OPTION) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


SQLITE_READ_THREADS = 1


class Database:
    """One engine and session factory per app (tests build several)."""

    def __init__(self, url: str, pool: PoolSettings | None = None) -> None:
        self.url = normalise_url(url)
        pool = pool or PoolSettings()
        self.engine = make_engine(self.url, pool)
        # How many hot reads (deps.in_session) run at once. On SQLite a read is Python
        # holding the GIL from start to end, so more threads add nothing but convoys on
        # the GIL: with 40 at 64 pollers, p99 was 3-4x the median, and with 2 rather
        # than 1 a 200-row page cost 14 ms of CPU rather than 8-9.5 (side by side, two
        # runs each). Elsewhere a read waits on the network, so as many as the pool
        # has connections.
        self.read_threads = SQLITE_READ_THREADS if self.is_sqlite else pool.size + pool.max_overflow
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # On SQLite this takes the write lock at BEGIN, so check-then-insert sequences
        # (admission, credit debits) cannot interleave; other backends lock rows instead.
        self.locking_sessionmaker = sessionmaker(
            self.engine.execution_options(**{WRITE_LOCK_OPTION: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.effective_database_url,
            PoolSettings(
                size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                timeout_seconds=settings.db_pool_timeout_seconds,
                sqlite_busy_timeout_seconds=settings.sqlite_busy_timeout_seconds,
            ),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write_lock: bool = False) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any exception."""
        factory = self.locking_sessionmaker if write_lock else self.sessionmaker
        with factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A bare connection for a read-only unit of work, rolled back when it ends.

        The hot reads (poll, list, /me) use it with statements built once: a Session's
        unit of work (state changes, flush checks, commit) cost more than their query.
        """
        with self.engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def updated(session: Session, statement: Executable) -> int:
    """Execute an UPDATE or DELETE and return how many rows it matched."""
    result = session.execute(statement)
    return int(cast("CursorResult[Any]", result).rowcount)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction commits (never on rollback).

    Enqueueing after commit means a worker can never see a job that is not in the database.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


_AFTER_COMMIT = "tft_after_commit"


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, []):
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_AFTER_COMMIT, None)


# Any fixed number: every process serialises admission on the same advisory lock.
ADMISSION_LOCK_KEY = 0x7F7_0001


def begin_write(session: Session) -> None:
    """Call before a service's first write in a request.

    SQLite cannot upgrade a transaction that has read into one that writes while
    another connection has committed since ("database is locked", with no wait).
    So on SQLite this commits what came before (reads, or nothing) and starts a
    BEGIN IMMEDIATE transaction, which waits its turn for the write lock. No-op
    when the transaction already holds it, and on PostgreSQL.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction() and session.connection().get_execution_options().get(
        WRITE_LOCK_OPTION
    ):
        return
    session.commit()
    session.connection(execution_options={WRITE_LOCK_OPTION: True})


def serialize_writes(session: Session) -> None:
    """Start a transaction that excludes concurrent admissions (check-then-insert).

    SQLite: the database write lock (begin_write). PostgreSQL: a transaction-scoped
    advisory lock that only admissions take; other writers are not blocked.
    """
    if session.get_bind().dialect.name == "sqlite":
        begin_write(session)
    else:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMISSION_LOCK_KEY})


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# The migration lock's first advisory key (the upkeep role lock uses 0x7F70002); the
# second is the schema's hash, so installations sharing a database do not wait on
# each other.
MIGRATION_LOCK_CLASS = 0x7F7_0003


def migrate(db: Database) -> None:
    """Bring the schema to head (idempotent).

    Two servers starting at once on an empty database raced: on PostgreSQL the second
    exited with a duplicate key on alembic_version, on SQLite with "database is
    locked" (two readers that both want to write). Now the second waits, then finds
    the schema at head: on PostgreSQL behind a transaction-level advisory lock, on a
    SQLite file behind an flock beside it.
    """
    cfg = alembic_config(db.url)
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        with path.with_name(path.name + ".migrate.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            _upgrade(db, cfg)
        return
    _upgrade(db, cfg)


def _upgrade(db: Database, cfg: Config) -> None:
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:cls, hashtext(current_schema()))"),
                {"cls": MIGRATION_LOCK_CLASS},
            )
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_is_current(db: Database) -> bool:
    heads = set(ScriptDirectory.from_config(alembic_config(db.url)).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads
