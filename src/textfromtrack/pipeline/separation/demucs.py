"""Demucs (htdemucs) vocal separation through the ``demucs`` package.

Weights come from ``TFT_DEMUCS_REPO`` (a local folder in demucs' own layout:
``<signature>.th`` files plus ``htdemucs.yaml`` naming the bag), or, when no
folder is configured, from demucs' hub when this machine is online. Anything
that prevents loading becomes ``SeparatorUnavailable`` so ``auto`` can fall back.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textfromtrack.pipeline.separation.base import (
    SeparationProgress,
    SeparatorUnavailable,
    StereoAudio,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "htdemucs"


class DemucsSeparator:
    def __init__(
        self, model_name: str = DEFAULT_MODEL, repo: Path | None = None, device: str = "cpu"
    ) -> None:
        try:
            from demucs.pretrained import get_model

            if repo is not None and not (repo.is_dir() and any(repo.glob("*.th"))):
                raise SeparatorUnavailable(f"TFT_DEMUCS_REPO {repo} holds no demucs weights (*.th)")
            model: Any = get_model(model_name, repo=repo)
        except SeparatorUnavailable:
            raise
        except (Exception, SystemExit) as exc:  # demucs calls sys.exit via fatal() on a bad repo
            raise SeparatorUnavailable(f"demucs {model_name} could not be loaded: {exc}") from exc
        sources = list(model.sources)
        if "vocals" not in sources:
            raise SeparatorUnavailable(f"demucs {model_name} has no vocals source ({sources})")
        self.model = model.to(device).eval()
        self.device = device
        self.vocals_index = sources.index("vocals")
        self.sample_rate = int(model.samplerate)
        self.name = f"demucs-{model_name}"

    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        from demucs.apply import apply_model

        if audio.ndim != 2 or audio.shape[0] != 2:
            raise ValueError(f"expected stereo audio shaped (2, n), got {audio.shape}")
        length = audio.shape[1]
        mix = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        # Normalise as demucs' own CLI does; the model was trained on standardised input.
        reference = mix.mean(0)
        mean, std = reference.mean(), reference.std().clamp_min(1e-8)

        def on_chunk(info: dict[str, Any]) -> None:
            if progress is not None and info.get("state") == "end":
                progress(min(1.0, (int(info.get("segment_offset", 0)) + 1) / max(length, 1)))

        with torch.inference_mode():
            # split=True runs fixed-length segments with overlap: memory stays flat on long tracks.
            sources = apply_model(
                self.model,
                ((mix - mean) / std)[None],
                shifts=0,
                split=True,
                overlap=0.25,
                device=self.device,
                callback=on_chunk,
            )[0]
        vocals = sources[self.vocals_index] * std + mean
        if progress is not None:
            progress(1.0)
        result: StereoAudio = vocals.cpu().numpy().astype(np.float32, copy=False)
        return result


_lock = threading.Lock()
_cache: dict[tuple[str, str | None, str], DemucsSeparator | SeparatorUnavailable] = {}


def get_demucs(
    model_name: str = DEFAULT_MODEL, repo: Path | None = None, device: str = "cpu"
) -> DemucsSeparator:
    """Loaded once per process; a failure is remembered too, so it is not retried per job."""
    key = (model_name, str(repo) if repo else None, device)
    with _lock:
        found = _cache.get(key)
        if found is None:
            try:
                found = DemucsSeparator(model_name, repo, device)
            except SeparatorUnavailable as exc:
                log.info("%s", exc)
                found = exc
            _cache[key] = found
    if isinstance(found, SeparatorUnavailable):
        raise found
    return found
