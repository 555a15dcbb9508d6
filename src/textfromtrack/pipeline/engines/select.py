"""Which engine a worker uses, from the settings. Loading happens once per process.

The standard attempt runs ``TFT_ENGINE``: the local faster-whisper model, or an
OpenAI-compatible server. Vintage attempts (asked for, or the automatic retry of a
poor standard one) always run locally: separation and the vintage model are ours.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from textfromtrack.config import Settings, mask_url
from textfromtrack.pipeline.engines.base import Engine
from textfromtrack.pipeline.engines.batching import NEVER, BatchingEngine, BatchPolicy
from textfromtrack.pipeline.engines.openai import OpenAIConfig, OpenAIEngine
from textfromtrack.pipeline.online import hubs_reachable

log = logging.getLogger(__name__)

BUNDLED_NAMES = {"base", "whisper-base"}


def batch_policy(settings: Settings, vintage: bool = False) -> BatchPolicy:
    """TFT_BATCHED_DECODING_*: the standard path always, the vintage path when enabled."""
    if vintage and not settings.vintage_batched_decoding:
        return NEVER
    return BatchPolicy(settings.batched_decoding_min_seconds, settings.batched_decoding_batch_size)


def standard_engine(settings: Settings) -> Engine:
    if settings.engine == "openai":
        return openai_engine(settings)
    return BatchingEngine(_load(settings.whisper_model, settings), batch_policy(settings))


def openai_config(settings: Settings) -> OpenAIConfig:
    key = settings.openai_api_key
    return OpenAIConfig(
        base_url=settings.openai_base_url,
        api_key=key.get_secret_value() if key is not None else None,
        model=settings.openai_model,
        max_retries=settings.openai_max_retries,
        retry_base_seconds=settings.openai_retry_base_seconds,
        retry_max_wait_seconds=settings.openai_retry_max_wait_seconds,
        timeout_seconds=settings.openai_timeout_seconds,
        connect_timeout_seconds=settings.openai_connect_timeout_seconds,
    )


_openai_lock = threading.Lock()
_openai_logged: set[tuple[str, str]] = set()


def openai_engine(settings: Settings) -> Engine:
    """Nothing to load: a client per call. Said once per process, without the key."""
    config = openai_config(settings)
    shown = (mask_url(config.base_url), config.model)
    with _openai_lock:
        if shown not in _openai_logged:
            _openai_logged.add(shown)
            log.info("standard attempts use the OpenAI-compatible API at %s (model %s)", *shown)
    return OpenAIEngine(config)


def _load(model: str, settings: Settings) -> Engine:
    # Imported here so the API process never pays for CTranslate2 unless it runs jobs.
    from textfromtrack.pipeline.engines.faster_whisper import get_engine

    return get_engine(
        model,
        settings.whisper_device,
        settings.whisper_compute_type,
        settings.effective_model_cache_dir,
        cpu_threads=settings.whisper_cpu_threads,
    )


def model_availability(name: str) -> tuple[bool, str]:
    """Whether ``name`` can load here, without loading it."""
    if name in BUNDLED_NAMES:
        return True, "bundled"
    if Path(name).is_dir():
        return True, f"local folder {name}"
    if hubs_reachable():
        return True, "downloadable (online)"
    return False, "offline and no local copy"


_vintage_lock = threading.Lock()
_vintage_fallback_logged: set[str] = set()


def vintage_engine(settings: Settings) -> Engine:
    """``TFT_VINTAGE_MODEL`` when it loads, else the standard model (said once in the log).

    The job records the engine's ``model_name``, so it never claims a model that did not run.
    """
    policy = batch_policy(settings, vintage=True)
    name = settings.vintage_model
    ok, why = model_availability(name)
    if ok:
        try:
            return BatchingEngine(_load(name, settings), policy)
        except Exception as exc:  # a failed download or a broken folder
            why = f"failed to load: {exc}"
    with _vintage_lock:
        if name not in _vintage_fallback_logged:
            _vintage_fallback_logged.add(name)
            log.warning(
                "vintage model %s unavailable (%s); vintage jobs use %s",
                name,
                why,
                settings.whisper_model,
            )
    return BatchingEngine(_load(settings.whisper_model, settings), policy)
