"""Numbers read when Prometheus scrapes, not counted as they happen: jobs by status (the
database is the truth, whichever process changed them) and the depth of each queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from dramatiq import Broker
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.jobs.models import Job, JobStatus
from textfromtrack.queue import routing

log = logging.getLogger(__name__)


class Forward(Collector):
    """Another registry's metrics, so one scrape can add per-app collectors to them."""

    def __init__(self, source: Collector) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


class JobsCollector(Collector):
    """``tft_jobs{status}``: one grouped count over the status index per scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        try:
            with self.db.session() as s:
                rows = s.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        except Exception:  # the database being down is /readyz's news, not the scrape's
            log.warning("metrics: could not count jobs by status", exc_info=True)
            return
        counts = {status.value: 0 for status in JobStatus}
        counts.update({JobStatus(status).value: int(n) for status, n in rows})
        family = GaugeMetricFamily(
            "tft_jobs", "Jobs by status, read from the database.", labels=["status"]
        )
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family


class QueueDepthCollector(Collector):
    """``tft_queue_depth{queue}``: messages waiting on the broker's queue; without a broker,
    pending jobs by the queue they would go to. ``tft_broker_up``: 1 when it answered."""

    def __init__(self, settings: Settings, db: Database | None, broker: Broker | None) -> None:
        self.settings, self.db, self.broker = settings, db, broker

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "tft_queue_depth",
            "Jobs waiting per queue: messages on the broker, or pending jobs when inline.",
            labels=["queue"],
        )
        if self.broker is not None:
            from textfromtrack.queue.dramatiq import queue_depths

            up = GaugeMetricFamily("tft_broker_up", "1 when the broker answered this scrape.")
            try:
                depths = queue_depths(self.broker, self.settings)
            except Exception as exc:
                log.warning("metrics: the broker did not answer (%s: %s)", type(exc).__name__, exc)
                up.add_metric([], 0)
                yield up
                return
            up.add_metric([], 1)
            yield up
        elif self.db is not None:
            try:
                depths = self._pending()
            except Exception:
                log.warning("metrics: could not count pending jobs", exc_info=True)
                return
        else:
            return
        for queue, n in depths.items():
            depth.add_metric([queue], n)
        yield depth

    def _pending(self) -> dict[str, int]:
        assert self.db is not None
        with self.db.session() as s:
            rows = s.execute(
                select(Job.vintage, func.count())
                .where(Job.status == JobStatus.PENDING)
                .group_by(Job.vintage)
            ).all()
        depths = dict.fromkeys(routing.QUEUES, 0)
        for vintage, n in rows:
            depths[routing.queue_for(bool(vintage))] += int(n)
        return depths
