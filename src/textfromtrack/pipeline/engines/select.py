"""Which engine a worker uses, from the settings. Loading happens once per process."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from textfromtrack.config import Settings
from textfromtrack.pipeline.engines.base import Engine
from textfromtrack.pipeline.engines.batching import NEVER, BatchingEngine, BatchPolicy
from textfromtrack.pipeline.online import hubs_reachable

log = logging.getLogger(__name__)

BUNDLED_NAMES = {"base", "whisper-base"}


def batch_policy(settings: Settings, vintage: bool = False) -> BatchPolicy:
    """TFT_BATCHED_DECODING_*: the standard path always, the vintage path when enabled."""
    if vintage and not settings.vintage_batched_decoding:
        return NEVER
    return BatchPolicy(settings.batched_decoding_min_seconds, settings.batched_decoding_batch_size)


def standard_engine(settings: Settings) -> Engine:
    return BatchingEngine(_load(settings.whisper_model, settings), batch_policy(settings))


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
