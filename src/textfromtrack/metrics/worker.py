"""``/metrics`` for a ``tft worker``: one more Dramatiq process (a fork function) that
serves what all of the worker's processes counted.

``tft worker --metrics-port`` points prometheus-client's multiprocess mode at a fresh
folder before Dramatiq starts its processes; each worker process writes its counters and
histograms there, and this process adds them up per scrape, with the queue depth read
from the broker. The folder goes when ``tft worker`` stops, so a restart starts at zero,
as Prometheus expects of counters.
"""

from __future__ import annotations

import logging
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from textfromtrack import logs
from textfromtrack.config import Settings
from textfromtrack.metrics.collectors import QueueDepthCollector
from textfromtrack.metrics.http import PATH, authorised
from textfromtrack.queue.dramatiq import make_broker

log = logging.getLogger(__name__)


def registry(settings: Settings, folder: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    registry.register(QueueDepthCollector(settings, None, make_broker(settings)))
    return registry


def serve() -> int:
    """Run until Dramatiq stops this process (SIGTERM)."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    port = settings.worker_metrics_port
    if not folder or not port:
        log.error("worker metrics: PROMETHEUS_MULTIPROC_DIR and a port are needed")
        return 1
    scraped = registry(settings, folder)
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.partition("?")[0] != PATH:
                self._answer(404, b"Not found.\n", "text/plain; charset=utf-8")
            elif token and not authorised(self.headers.get("Authorization"), token):
                self._answer(401, b"Bearer token required.\n", "text/plain; charset=utf-8")
            else:
                self._answer(200, generate_latest(scraped), CONTENT_TYPE_LATEST)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # a scrape every few seconds is not news

    server = ThreadingHTTPServer((settings.worker_metrics_host, port), Handler)
    server.daemon_threads = True
    log.info("worker metrics on http://%s:%d%s", settings.worker_metrics_host, port, PATH)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
