"""The maintenance role: one process at a time puts back the jobs of dead workers,
re-sends pending jobs whose message was lost, and applies the retention policy.

Every ``tft serve`` runs a Maintenance thread, but only the one holding the role lock
acts; the others retry the lock on every pass, so when the holder dies another takes
over within a pass. The lock is a PostgreSQL session-level advisory lock (keyed by the
schema, so installations sharing a database do not block each other), released by the
server when the holder's connection ends, however it ends; on SQLite, which is one
machine, an flock on a file beside the database, released by the kernel likewise.
The passes themselves are in jobs/maintenance.py; each change they make is a
conditional update, so even two holders (a network partition) could not corrupt a job.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from textfromtrack.config import Settings
from textfromtrack.db import Database, utcnow
from textfromtrack.jobs import maintenance

log = logging.getLogger(__name__)

# The advisory lock's first key: any fixed number; the second is the schema's hash.
ROLE_LOCK_CLASS: Final = 0x7F7_0002
# A lost message is re-sent after the grace period, then after doubling intervals up to
# this, so a job that merely waits behind a long backlog is not sent over and over.
MAX_RESEND_INTERVAL_SECONDS: Final = 1800.0


class RoleLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; never waits."""

    def still_held(self) -> bool:
        """Whether the lock is still ours (a dropped connection loses it)."""

    def release(self) -> None: ...


class PostgresRoleLock:
    """A session-level advisory lock on a connection of its own (not from the pool, so
    returning a connection can never leave the lock behind on it)."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url, poolclass=NullPool)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn: Connection | None = None
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.scalar(
                text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"),
                {"cls": ROLE_LOCK_CLASS},
            )
        except Exception:
            log.debug("maintenance lock: database unreachable", exc_info=True)
            got = False
        if got and conn is not None:
            self._conn = conn
            return True
        if conn is not None:
            conn.close()
        return False

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # NullPool: this ends the session, and with it the lock
            except Exception:
                log.debug("maintenance lock: closing a broken connection failed", exc_info=True)

    def release(self) -> None:
        self._drop()
        self._engine.dispose()


class FileRoleLock:
    """flock on a file beside the SQLite database: every process using that database
    is on this machine (SQLite cannot be shared across hosts safely anyway)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        # For an operator wondering who holds it; the lock, not the text, is the truth.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock


class ProcessRoleLock:
    """An in-memory database lives in one process: the role is always here."""

    def acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        return None


def role_lock_for(db: Database) -> RoleLock:
    url = db.engine.url
    if db.is_sqlite:
        if not url.database or url.database == ":memory:":
            return ProcessRoleLock()
        path = Path(url.database)
        return FileRoleLock(path.with_name(path.name + ".maintenance.lock"))
    if db.engine.dialect.name == "postgresql":
        return PostgresRoleLock(url.render_as_string(hide_password=False))
    log.warning("no maintenance lock for %s; run one server only", db.engine.dialect.name)
    return ProcessRoleLock()


def pass_interval(settings: Settings) -> float:
    """Often enough to notice a dead worker within its timeout and a lost message
    within its grace period; never busier than once a second."""
    return max(
        1.0,
        min(30.0, settings.heartbeat_timeout_seconds / 2, settings.reconcile_grace_seconds / 2),
    )


class Maintenance:
    """The role, on a thread of its own in every ``tft serve``; acts only while it holds
    the lock. ``requeue`` hands a job back to the dispatcher. ``reconcile`` re-sends
    pending jobs nobody claimed (needed with a broker, whose workers see only messages)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        requeue: Callable[[str], None],
        *,
        reconcile: bool = False,
        lock: RoleLock | None = None,
    ) -> None:
        self.db, self.settings, self.requeue = db, settings, requeue
        self.reconcile = reconcile
        self.lock = lock or role_lock_for(db)
        self._holding = False
        self._last_sweep: float | None = None
        # job id -> (monotonic time the next re-send is due, the interval after that)
        self._resends: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holds_role(self) -> bool:
        return self._holding

    def start(self) -> None:
        self._stop.clear()
        # Tried once now, so which of several servers started first holds the role.
        self._take_role()
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)
        self._thread.start()

    def _take_role(self) -> None:
        if self._holding:
            return
        self._holding = self.lock.acquire()
        if self._holding:
            log.info("maintenance role: held by this process (pid %d)", os.getpid())
            self._last_sweep = None  # a new holder sweeps at once
            self._resends.clear()

    def _run(self) -> None:
        every = pass_interval(self.settings)
        while not self._stop.is_set():
            try:
                if self._holding and not self.lock.still_held():
                    self._holding = False
                    log.warning("maintenance role: lock lost; trying to take it again")
                self._take_role()
                if self._holding:
                    self.run_pass()
            except Exception:
                log.exception("maintenance pass failed; retrying later")
            self._stop.wait(every)

    def run_pass(self) -> None:
        """One round of every duty (the holder calls it; tests may too)."""
        now = time.monotonic()
        if (
            self._last_sweep is None
            or now - self._last_sweep >= self.settings.sweep_interval_seconds
        ):
            self._last_sweep = now
            purged = maintenance.sweep_expired(self.db, self.settings)
            if purged:
                log.info("retention sweep removed results of %d job(s)", len(purged))
        grace = self.settings.reconcile_grace_seconds
        for job_id in maintenance.recover_stale_jobs(self.db, self.settings).requeued:
            self.requeue(job_id)
            self._resends[job_id] = (now + grace, grace)
        if self.reconcile:
            self._reconcile(now, grace)

    def _reconcile(self, now: float, grace: float) -> None:
        pending = maintenance.unclaimed_pending_job_ids(
            self.db, utcnow() - timedelta(seconds=grace)
        )
        for gone in self._resends.keys() - set(pending):
            del self._resends[gone]
        sent = 0
        for job_id in pending:
            due, interval = self._resends.get(job_id, (0.0, grace))
            if now < due:
                continue
            self.requeue(job_id)
            self._resends[job_id] = (now + interval, min(interval * 2, MAX_RESEND_INTERVAL_SECONDS))
            sent += 1
        if sent:
            log.info("reconciler: sent %d pending job(s) nobody had claimed again", sent)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        self._thread = None
        if self._holding:
            self._holding = False
            self.lock.release()
            log.info("maintenance role: released")
