"""An inline worker's jobs, run in a child process of ``tft serve`` (TFT_INLINE_ISOLATION=process).

Why a process: decoding holds Python's interpreter lock for long stretches (PyAV's
frame loop, faster-whisper's Python between CTranslate2 calls, torch's import and the
Spleeter checkpoint's unpickling), and every API request of the same process waits for
it. With the job in a thread, polling at 64 clients fell to 340-420 req/s while a
music-mode attempt started and p99 rose past 100 ms; a child process has its own lock,
and its own CPU priority (TFT_INLINE_NICENESS), so requests come first on the cores.

The split: the parent (the worker thread) claims the job and wraps the run in
``metrics.jobs.running``, so the job's log lines, claim and outcome metrics stay in the
process that serves ``/metrics``. The child runs ``processing.run_claimed``: heartbeat,
progress, stages, both attempts, the results and the failure path, all through the
database, exactly as a thread would. A cancel reaches it the same way (the row).

The child is started at a worker's first job (a server that never transcribes never
pays for one) and kept, with its models, for the next. It exits when the parent dies,
and the parent fails the job with a clear message (credit refunded) if the child dies
under it, then starts a fresh child for the next job.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from textfromtrack import logs
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs import processing
from textfromtrack.jobs.models import JobStatus
from textfromtrack.models import import_all_models

log = logging.getLogger(__name__)

# Spawn, not fork: the parent runs uvicorn's event loop, a thread pool and database
# connections, none of which survive a fork safely.
_CONTEXT = multiprocessing.get_context("spawn")
PARENT_CHECK_SECONDS = 1.0
STOP_GRACE_SECONDS = 5.0


class ChildDied(RuntimeError):
    """The child process ended while it ran a job."""


class ChildError(RuntimeError):
    """An error escaped ``run_claimed`` in the child (its own failure path failed)."""


class JobProcess:
    """One child process that runs one inline worker's jobs, one at a time."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self._process: Any = None  # multiprocessing's SpawnProcess
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._busy = False  # a job is in the child now

    def run(self, job_id: str, worker: str) -> JobStatus | None:
        """``processing.run_claimed`` of a claimed job, in the child."""
        conn = self._ensure_started()
        self._busy = True
        try:
            # The request id metrics.jobs.running bound in this thread, for the child's lines.
            conn.send((job_id, worker, logs.REQUEST_ID.get()))
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            with self._lock:
                code = self._reap()
            raise ChildDied(f"the transcription process stopped (exit code {code})") from exc
        finally:
            self._busy = False
        status, error = reply
        if error is not None:
            # run_claimed records its own failures; this is what escaped it (a bug).
            raise ChildError(error)
        return JobStatus(status) if status is not None else None

    def _ensure_started(self) -> Connection:
        with self._lock:
            if self._process is not None and self._process.is_alive() and self._conn is not None:
                return self._conn
            self._reap()
            parent_end, child_end = _CONTEXT.Pipe(duplex=True)
            process = _CONTEXT.Process(
                target=child_main,
                args=(child_end, self.settings, os.getpid()),
                name=f"tft-{self.name}",
                daemon=True,
            )
            process.start()
            child_end.close()
            self._process, self._conn = process, parent_end
            log.info("inline worker %s: transcription process %d started", self.name, process.pid)
            return parent_end

    def _reap(self) -> int | None:
        """Close the pipe and wait for the process to go; its exit code (None if none ran)."""
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        process.join(timeout=STOP_GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(timeout=STOP_GRACE_SECONDS)
        return int(process.exitcode) if process.exitcode is not None else None

    def stop(self) -> None:
        """End the child now, a job in progress included: it is picked up again at the next
        start, as a job of a thread that died with its server would be."""
        with self._lock:
            process, conn = self._process, self._conn
            if process is None:
                return
            if not self._busy and conn is not None:
                # Idle: asked to leave, it exits cleanly (its semaphores unregistered).
                try:
                    conn.send(None)
                    process.join(timeout=STOP_GRACE_SECONDS)
                except OSError:
                    pass
            if process.is_alive():
                process.terminate()
            self._reap()


def child_main(conn: Connection, settings: Settings, parent_pid: int) -> None:
    """The child's loop: a job id and worker in, ``(status, escaped error)`` out."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when the
    # child ends (stop() above), so a job is not cut off before the server shuts down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Decoding keeps every core busy for as long as the job lasts; at a lower priority it
    # still gets every cycle the API leaves idle, and requests do not queue behind it.
    # (In a thread this backfired: the niced thread held the interpreter lock requests
    # waited for; a process has its own.)
    if settings.inline_niceness:
        os.nice(settings.inline_niceness)
    logs.configure(settings.log_level, settings.log_format)
    # A refund writes credit entries, whose foreign keys name the users table: every
    # model must be known here, as in the API process (tft worker does the same).
    import_all_models()
    threading.Thread(
        target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()
    db = Database.from_settings(settings)
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent closed the pipe: it is stopping
                return
            if message is None:  # asked to stop while idle
                return
            job_id, worker, request_id = message
            try:
                with logs.job_context(job_id, request_id):
                    status = processing.run_claimed(db, settings, job_id, worker)
                conn.send((status.value if status is not None else None, None))
            except Exception as exc:
                log.exception("job %s: the transcription process hit an error", job_id)
                conn.send((None, f"{type(exc).__name__}: {exc}"))
    finally:
        db.dispose()


def _exit_with_parent(parent_pid: int) -> None:
    """A child whose server was killed (SIGKILL, OOM) must not go on decoding for nobody."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(PARENT_CHECK_SECONDS)
