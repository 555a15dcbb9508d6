"""The Dramatiq worker entry: ``tft worker`` hands this module to Dramatiq's CLI, which
imports it in every worker process it starts.

Importing it builds the broker from the environment (TFT_BROKER_URL and the rest) and
declares one actor per queue. Each process keeps one database engine and, through
pipeline/engines/select.py, its models loaded from the first job on. Its log lines are
ours (TFT_LOG_FORMAT); its job metrics go to the multiprocess files that
metrics/worker.py serves, when ``tft worker`` has a metrics port.
"""

from __future__ import annotations

import functools
import logging
import threading

import dramatiq

from textfromtrack import logs
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs import maintenance
from textfromtrack.jobs.processing import process_job, worker_id
from textfromtrack.models import import_all_models
from textfromtrack.queue import routing
from textfromtrack.queue.dramatiq import ACTORS, make_broker, message_for

log = logging.getLogger(__name__)

# Every table in the metadata: nothing else here imports the accounts models, and without
# `users` the ORM cannot flush a credit entry (whose user_id refers to it), so a failed
# job's refund raised NoReferencedTableError and the job was left processing.
import_all_models()

settings = Settings()
# `tft worker` passes --skip-logging: in this process stderr is Dramatiq's logging pipe.
logs.configure(settings.log_level, settings.log_format)
broker = make_broker(settings)
dramatiq.set_broker(broker)
# A worker killed mid-job on this machine left its local copy of the upload behind;
# no maintenance role may run here to remove it.
maintenance.remove_dead_spool(settings)


@functools.cache
def _database() -> Database:
    # Built on first use, inside the worker process (never inherited across a fork).
    return Database.from_settings(settings)


def _to_vintage(job_id: str) -> None:
    """A standard job's music-mode attempt goes to the vintage queue (the GPU boxes).
    A message lost here is harmless: the reconciler sends pending jobs again, and the
    job's row sends this one to ``vintage``."""
    try:
        broker.enqueue(message_for(settings, job_id, routing.VINTAGE))
    except Exception:
        log.warning("job %s: could not send it to the vintage queue; the reconciler will", job_id)


def run(job_id: str) -> None:
    """Claim and run one job. A duplicate or stale message finds the job claimed or
    final and does nothing; failures are recorded on the job (and refunded) by
    process_job, so nothing is left for Dramatiq to retry."""
    worker = worker_id(f"dramatiq-{threading.current_thread().name}")
    status = process_job(_database(), settings, job_id, worker, hand_off=_to_vintage)
    if status is None:
        log.info("job %s: not pending, message ignored", job_id)


for _queue in routing.QUEUES:
    dramatiq.actor(
        actor_name=ACTORS[_queue],
        queue_name=routing.broker_queue_name(settings.queue_prefix, _queue),
        # Redelivery is the reconciler's business, decided on the job's row.
        max_retries=0,
    )(run)
