"""Dramatiq dispatch for a fleet: messages on Redis or RabbitMQ that carry only a job id.

``tft serve`` sends; ``tft worker`` (queue/worker.py) consumes. Sending happens on a
thread of its own after commit, so a slow or unreachable broker never holds a request:
a failed send is logged and the job stays pending in the database, where the
reconciler of the maintenance role (jobs/upkeep.py) finds it and sends it again.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Final

from dramatiq import Broker, Message
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications

from textfromtrack import metrics
from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.queue import routing

log = logging.getLogger(__name__)

# One actor per queue, both running the same function: Dramatiq binds an actor to a queue.
ACTORS: Final = {routing.STANDARD: "tft.process_job", routing.VINTAGE: "tft.process_vintage_job"}
# A broker that does not answer within this is treated as down for this message.
CONNECT_TIMEOUT_SECONDS: Final = 5.0
# How long stop() lets the sender finish messages already handed to it.
DRAIN_SECONDS: Final = 5.0
_STOP: Final = ""


def make_broker(settings: Settings) -> Broker:
    """The broker named by TFT_BROKER_URL, with Dramatiq's middleware minus TimeLimit:
    a ten-minute track in music mode may take longer than Dramatiq's default limit, and
    liveness is ours to judge (heartbeats), not a wall clock's."""
    url = settings.broker_url or ""
    middleware = [AgeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), Retries()]
    scheme = url.partition("://")[0].lower()
    if is_redis(url):
        import redis
        from dramatiq.brokers.redis import RedisBroker

        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=30,
            health_check_interval=30,
        )
        return RedisBroker(client=client, middleware=middleware)  # type: ignore[no-untyped-call]
    if scheme in {"amqp", "amqps"}:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        # Messages survive a broker restart; a lost one is re-sent by the reconciler anyway.
        return RabbitmqBroker(url=url, middleware=middleware, confirm_delivery=True)
    raise ValueError(f"TFT_BROKER_URL must start with redis:// or amqp://, not {scheme or url!r}")


def is_redis(url: str) -> bool:
    return url.partition("://")[0].lower() in {"redis", "rediss", "unix"}


def queue_depths(broker: Broker, settings: Settings) -> dict[str, int]:
    """Messages waiting on each queue (not yet fetched by a worker); raises when the
    broker does not answer, which is what /readyz and the metrics want to know.

    Redis: the length of the queue's list, read directly (Dramatiq's own qsize command
    would register this process as one of its workers). RabbitMQ: a passive declare on a
    short connection of its own, so no channel of the sending thread is shared.
    """
    names = {q: routing.broker_queue_name(settings.queue_prefix, q) for q in routing.QUEUES}
    url = settings.broker_url or ""
    if is_redis(url):
        from dramatiq.brokers.redis import RedisBroker

        assert isinstance(broker, RedisBroker)
        client = broker.client
        return {q: int(client.llen(f"{broker.namespace}:{name}")) for q, name in names.items()}
    import pika  # type: ignore[import-untyped]
    import pika.exceptions  # type: ignore[import-untyped]

    params = pika.URLParameters(url)
    params.socket_timeout = CONNECT_TIMEOUT_SECONDS
    params.blocked_connection_timeout = CONNECT_TIMEOUT_SECONDS
    params.connection_attempts = 1
    connection = pika.BlockingConnection(params)
    try:
        depths: dict[str, int] = {}
        channel = connection.channel()
        for q, name in names.items():
            try:
                declared = channel.queue_declare(queue=name, passive=True)
                depths[q] = int(declared.method.message_count)
            except pika.exceptions.ChannelClosedByBroker:
                # Not declared yet: no worker has consumed it and nothing was sent.
                depths[q] = 0
                channel = connection.channel()
        return depths
    finally:
        connection.close()


def message_for(settings: Settings, job_id: str, queue_name: str) -> Message[None]:
    return Message(
        queue_name=routing.broker_queue_name(settings.queue_prefix, queue_name),
        actor_name=ACTORS[queue_name],
        args=(job_id,),
        kwargs={},
        options={},
    )


class DramatiqDispatcher:
    """Sends committed jobs to their queue; the job's row decides which queue."""

    def __init__(self, db: Database, settings: Settings, broker: Broker | None = None) -> None:
        self.db, self.settings = db, settings
        self.broker = broker or make_broker(settings)
        self._outbox: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None

    def enqueue(self, job_id: str) -> None:
        self._outbox.put(job_id)

    def send(self, job_id: str) -> bool:
        """Send now, on the caller's thread. False (and logged) when the broker refused."""
        try:
            name = routing.queue_of_job(self.db, job_id)
            self.broker.enqueue(message_for(self.settings, job_id, name))
        except Exception as exc:
            metrics.BROKER_SEND_FAILURES.inc()
            log.warning(
                "job %s: could not send its message (%s: %s); the reconciler will send it again",
                job_id,
                type(exc).__name__,
                exc,
            )
            return False
        log.debug("job %s sent to queue %s", job_id, name)
        return True

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="dramatiq-sender", daemon=True)
            self._thread.start()
        log.info("jobs go to the broker; no inline workers in this process (run `tft worker`)")

    def _run(self) -> None:
        while True:
            job_id = self._outbox.get()
            if job_id == _STOP:
                return
            self.send(job_id)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._outbox.put(_STOP)
            thread.join(timeout=DRAIN_SECONDS)
        try:
            self.broker.close()
        except Exception:  # closing a broker that never connected may fail; nothing to keep
            log.debug("closing the broker failed", exc_info=True)
