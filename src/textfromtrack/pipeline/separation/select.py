"""Which separator runs: ``TFT_SEPARATOR`` = auto | spleeter | demucs.

auto prefers Demucs when its weights load (a local repo, or the hub when online)
and otherwise uses the bundled Spleeter 2-stem model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from textfromtrack.config import Settings
from textfromtrack.pipeline.online import hubs_reachable
from textfromtrack.pipeline.separation.base import Separator, SeparatorUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeparatorChoice:
    name: str  # "demucs" or "spleeter"
    reason: str


def demucs_weights_available(settings: Settings) -> tuple[bool, str]:
    """A cheap check that does not load weights."""
    repo = settings.demucs_repo
    if repo is not None:
        if repo.is_dir() and any(repo.glob("*.th")):
            return True, f"local repo {repo}"
        return False, f"TFT_DEMUCS_REPO {repo} holds no *.th weights"
    if hubs_reachable():
        return True, "demucs hub (online)"
    return False, "offline and TFT_DEMUCS_REPO unset"


def choose(settings: Settings) -> SeparatorChoice:
    if settings.separator == "spleeter":
        return SeparatorChoice("spleeter", "TFT_SEPARATOR=spleeter")
    ok, why = demucs_weights_available(settings)
    if settings.separator == "demucs" or ok:
        return SeparatorChoice("demucs", why)
    return SeparatorChoice("spleeter", f"demucs unavailable ({why}); bundled weights")


def torch_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def get_separator(settings: Settings) -> Separator:
    """The configured separator, loaded once per process."""
    choice = choose(settings)
    device = torch_device(settings.separation_device)
    if choice.name == "demucs":
        from textfromtrack.pipeline.separation.demucs import get_demucs

        try:
            return get_demucs(settings.demucs_model, settings.demucs_repo, device)
        except SeparatorUnavailable:
            if settings.separator == "demucs":
                raise
            log.warning("demucs could not load; using spleeter instead")
    from textfromtrack.pipeline.separation.spleeter import get_spleeter

    return get_spleeter(device)
