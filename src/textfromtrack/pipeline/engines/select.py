"""Which engine a worker uses, from the settings. Loading happens once per process."""

from __future__ import annotations

from textfromtrack.config import Settings
from textfromtrack.pipeline.engines.base import Engine


def standard_engine(settings: Settings) -> Engine:
    # Imported here so the API process never pays for CTranslate2 unless it runs jobs.
    from textfromtrack.pipeline.engines.faster_whisper import get_engine

    return get_engine(
        settings.whisper_model,
        settings.whisper_device,
        settings.whisper_compute_type,
        settings.effective_model_cache_dir,
        cpu_threads=settings.whisper_cpu_threads,
    )
