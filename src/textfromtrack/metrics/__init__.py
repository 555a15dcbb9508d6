"""Prometheus metrics: what every process counts, in one registry.

``tft serve`` serves this registry at ``/metrics`` (metrics/http.py) together with two
scrape-time collectors (metrics/collectors.py): jobs by status, read from the database,
and the queue depth. ``tft worker`` runs Dramatiq's worker processes with
prometheus-client's multiprocess mode, and one more process serves what they all counted
(metrics/worker.py). Job metrics are recorded where a job is claimed and where it ends
(metrics/jobs.py), from the row the worker just wrote (attempts_log and its stages), so
inline threads and fleet workers count the same things the same way.

Labels are bounded on purpose: a route is its template (``/api/v1/transcriptions/{job_id}``),
never a raw path, and no job, user or request id is ever a label.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)

REGISTRY: Final = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# Seconds, from a short API call to a long music-mode job.
_JOB_BUCKETS: Final = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
_STAGE_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
_RTF_BUCKETS: Final = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)
# Uploads of 100 MB take longer than the default buckets' 10 s.
_HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

HTTP_REQUESTS: Final = Counter(
    "tft_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION: Final = Histogram(
    "tft_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its response.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
ADMISSION_REFUSALS: Final = Counter(
    "tft_admission_refusals",
    "Uploads refused, by reason: user, ip (active jobs), uploads, user_uploads, ip_uploads "
    "(uploads in flight), insufficient_credits, too_large, upload_timeout, track_too_long.",
    ["reason", "status"],
    registry=REGISTRY,
)

JOBS_CLAIMED: Final = Counter(
    "tft_jobs_claimed", "Jobs a worker of this process claimed.", registry=REGISTRY
)
JOBS_FINISHED: Final = Counter(
    "tft_jobs_finished",
    "Jobs that ended in this process, by final status (done, error, cancelled).",
    ["status", "mode"],
    registry=REGISTRY,
)
JOBS_DEGRADED: Final = Counter(
    "tft_jobs_degraded",
    "Done jobs whose winning transcript was still judged poor.",
    ["mode"],
    registry=REGISTRY,
)
JOB_DURATION: Final = Histogram(
    "tft_job_duration_seconds",
    "Processing time of a done job, from claim to results stored (runtime_seconds).",
    ["mode"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
JOB_TURNAROUND: Final = Histogram(
    "tft_job_turnaround_seconds",
    "Submit to done: queueing included.",
    ["mode"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
JOB_REAL_TIME_FACTOR: Final = Histogram(
    "tft_job_real_time_factor",
    "Processing seconds per second of audio for done jobs (below 1: faster than real time).",
    ["mode"],
    buckets=_RTF_BUCKETS,
    registry=REGISTRY,
)
JOB_AUDIO: Final = Counter(
    "tft_job_audio_seconds",
    "Seconds of audio in done jobs.",
    ["mode"],
    registry=REGISTRY,
)
ATTEMPTS: Final = Counter(
    "tft_attempts",
    "Pipeline attempts of done jobs, by pipeline, verdict (accepted: the winner, or "
    "rejected) and quality (ok or poor, the quality check's judgement).",
    ["pipeline", "verdict", "quality"],
    registry=REGISTRY,
)
ATTEMPT_DURATION: Final = Histogram(
    "tft_attempt_duration_seconds",
    "Seconds of one attempt (attempts_log's seconds).",
    ["pipeline"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
STAGE_DURATION: Final = Histogram(
    "tft_stage_duration_seconds",
    "Seconds per pipeline stage of an attempt: decode, separate, recognise, postprocess.",
    ["stage", "pipeline"],
    buckets=_STAGE_BUCKETS,
    registry=REGISTRY,
)
BROKER_SEND_FAILURES: Final = Counter(
    "tft_broker_send_failures",
    "Job messages the broker refused; the reconciler sends them again.",
    registry=REGISTRY,
)
