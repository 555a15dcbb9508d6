"""Maintenance runs in one process at a time: the role lock, across real processes, on
SQLite (an flock beside the file) and PostgreSQL (a session-level advisory lock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs.upkeep import Maintenance, role_lock_for

HOLD = textwrap.dedent(
    """
    import sys, time
    from textfromtrack.db import Database
    from textfromtrack.jobs.upkeep import role_lock_for
    lock = role_lock_for(Database(sys.argv[1]))
    print("held" if lock.acquire() else "refused", flush=True)
    time.sleep(600)
    """
)


def _holder(url: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def test_one_holder_among_processes_and_the_next_takes_over(database_url: str) -> None:
    db = Database(database_url)
    other, answer = _holder(database_url)
    try:
        assert answer == "held"
        here = role_lock_for(db)
        assert not here.acquire()
        second, answer = _holder(database_url)
        second.kill()
        second.wait()
        assert answer == "refused"
        other.kill()  # no clean-up: the server (or the kernel) drops the lock with the process
        other.wait()
        deadline = time.monotonic() + 10
        while not here.acquire():
            assert time.monotonic() < deadline, "the dead holder's lock was never released"
            time.sleep(0.1)
        assert here.still_held()
        third, answer = _holder(database_url)
        third.kill()
        third.wait()
        assert answer == "refused"
        here.release()
        fourth, answer = _holder(database_url)
        fourth.kill()
        fourth.wait()
        assert answer == "held"
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        db.dispose()


def test_two_servers_run_maintenance_once(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Two Maintenance roles on one database (as two `tft serve` would run): one acts,
    the other stands by, and takes over when the first stops."""
    # A short heartbeat timeout makes the standby retry the lock every second.
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, heartbeat_timeout_seconds=2
    )
    sent: list[str] = []
    first = Maintenance(database, settings, sent.append, reconcile=True)
    second_db = Database(database_url)
    second = Maintenance(second_db, settings, sent.append, reconcile=True)
    try:
        first.start()
        second.start()
        assert first.holds_role and not second.holds_role
        first.stop()
        deadline = time.monotonic() + 10
        while not second.holds_role:
            assert time.monotonic() < deadline, "the standby never took the role"
            time.sleep(0.1)
    finally:
        first.stop()
        second.stop()
        second_db.dispose()
