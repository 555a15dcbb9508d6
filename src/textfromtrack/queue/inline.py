"""Inline workers: threads inside ``tft serve``, for the embedded one-machine default.

Job ids arrive through an in-process queue after commit; workers also poll the
database, so a job whose message was lost (a restart) is still picked up. Each worker
thread claims its job and runs it in its own child process (queue/isolated.py), or
in the thread itself with TFT_INLINE_ISOLATION=thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs import maintenance
from textfromtrack.jobs.models import JobStatus
from textfromtrack.jobs.processing import RunClaimed, fail_claimed, process_job, worker_id
from textfromtrack.queue.isolated import ChildDied, ChildError, JobProcess

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
_WAKE = ""


class InlineDispatcher:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._processes: list[JobProcess] = []

    def enqueue(self, job_id: str) -> None:
        self._queue.put(job_id)

    def start(self) -> None:
        self._stop.clear()
        # Jobs of dead workers are put back by the maintenance role (jobs/upkeep.py), which
        # hands them to enqueue(); here only what is already pending is queued.
        try:
            pending = maintenance.pending_job_ids(self.db)
        except Exception:
            # The API still starts (readiness reports the database); workers poll until it is back.
            log.exception("could not inspect jobs at start-up; workers will retry")
        else:
            log.info("inline workers: %d", self.settings.inline_workers)
            for job_id in pending:
                self._queue.put(job_id)
        for n in range(self.settings.inline_workers):
            name = f"inline-{n}"
            run: RunClaimed | None = None
            if self.settings.inline_isolation == "process":
                process = JobProcess(self.settings, name)
                self._processes.append(process)
                run = self._isolated(process)
            self._spawn(name, self._work, worker_id(name), run)

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _next_job(self) -> str | None:
        try:
            return self._queue.get(timeout=POLL_SECONDS)
        except queue.Empty:
            pending = maintenance.pending_job_ids(self.db, limit=1)
            return pending[0] if pending else None

    def _isolated(self, process: JobProcess) -> RunClaimed:
        def run(db: Database, settings: Settings, job_id: str, worker: str) -> JobStatus | None:
            try:
                return process.run(job_id, worker)
            except ChildDied as exc:
                if self._stop.is_set():
                    # Stopped by the server's shutdown: the job is recovered at the next
                    # start, like a thread's job when its process ends.
                    return None
                log.error("job %s: %s", job_id, exc)
                problem = str(exc)
            except ChildError as exc:
                # Logged with its traceback by the child; the job must still end.
                problem = str(exc).splitlines()[0][:300]
            return fail_claimed(
                db,
                settings,
                job_id,
                worker,
                f"Transcription failed: {problem}. Your credit was refunded.",
            )

        return run

    def _work(self, worker: str, run: RunClaimed | None) -> None:
        while not self._stop.is_set():
            try:
                job_id = self._next_job()
                if job_id and not self._stop.is_set():
                    process_job(self.db, self.settings, job_id, worker, run=run)
            except Exception:  # keep the worker alive; the job itself recorded its failure
                log.exception("inline worker %s hit an error", worker)
                self._stop.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        for _ in self._threads:
            self._queue.put(_WAKE)  # wake idle workers now rather than at their next poll
        for process in self._processes:
            process.stop()  # a worker waiting on its child's answer gets ChildDied
        self._processes.clear()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
