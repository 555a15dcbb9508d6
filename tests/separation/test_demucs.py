"""Demucs loading and separation through the real demucs package, on a tiny random HTDemucs
saved into a local repo folder in demucs' own format (<sig>.th + <bag>.yaml)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from demucs.htdemucs import HTDemucs
from typer.testing import CliRunner

from textfromtrack.cli import app as cli
from textfromtrack.config import Settings
from textfromtrack.pipeline.separation import select
from textfromtrack.pipeline.separation.base import SeparatorUnavailable
from textfromtrack.pipeline.separation.demucs import DemucsSeparator, get_demucs


def save_tiny_htdemucs(
    folder: Path, sources: list[str] | None = None, bag: str = "htdemucs"
) -> Path:
    torch.manual_seed(0)
    model = HTDemucs(
        sources=sources or ["drums", "bass", "other", "vocals"],
        channels=8,
        depth=2,
        t_layers=1,
        t_heads=1,
        nfft=512,
        dconv_depth=1,
        dconv_comp=4,
        t_hidden_scale=1.0,
        segment=2,
    )
    args, kwargs = model._init_args_kwargs
    package = {"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(package, folder / "tiny0001.th")
    (folder / f"{bag}.yaml").write_text("models: ['tiny0001']\n")
    return folder


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_htdemucs(tmp_path_factory.mktemp("demucs"))


def test_loads_from_a_local_repo_and_separates(repo: Path) -> None:
    separator = DemucsSeparator(repo=repo)
    assert separator.name == "demucs-htdemucs" and separator.sample_rate == 44100
    audio = (np.random.default_rng(1).standard_normal((2, 44100 * 5)) * 0.1).astype(np.float32)
    seen: list[float] = []
    vocals = separator.separate_vocals(audio, seen.append)
    assert vocals.shape == audio.shape and vocals.dtype == np.float32
    assert np.isfinite(vocals).all()
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_rejects_mono_input(repo: Path) -> None:
    with pytest.raises(ValueError, match="stereo"):
        DemucsSeparator(repo=repo).separate_vocals(np.zeros(100, dtype=np.float32))


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("empty", "holds no demucs weights"),
        ("no-vocals", "no vocals source"),
        ("wrong-bag", "could not be loaded"),
    ],
)
def test_unloadable_repos_are_separator_unavailable(tmp_path: Path, setup: str, match: str) -> None:
    if setup == "no-vocals":
        save_tiny_htdemucs(tmp_path, sources=["drums", "bass", "other", "piano"])
    elif setup == "wrong-bag":
        save_tiny_htdemucs(tmp_path, bag="some_other_bag")
    with pytest.raises(SeparatorUnavailable, match=match):
        DemucsSeparator(repo=tmp_path)


def test_failure_is_cached_per_process(tmp_path: Path) -> None:
    with pytest.raises(SeparatorUnavailable):
        get_demucs(repo=tmp_path)
    save_tiny_htdemucs(tmp_path)
    # Remembered: a job never pays for a second failed load within one process.
    with pytest.raises(SeparatorUnavailable):
        get_demucs(repo=tmp_path)


@pytest.mark.parametrize(
    ("separator", "with_repo", "expected"),
    [
        ("auto", True, "demucs"),
        ("auto", False, "spleeter"),
        ("spleeter", True, "spleeter"),
        ("demucs", True, "demucs"),
        ("demucs", False, "demucs"),
    ],
)
def test_choice(
    repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    separator: str,
    with_repo: bool,
    expected: str,
) -> None:
    monkeypatch.setattr(select, "hubs_reachable", lambda: False)  # this machine is offline anyway
    settings = Settings(
        data_dir=tmp_path, separator=separator, demucs_repo=repo if with_repo else None
    )
    assert select.choose(settings).name == expected


def test_auto_loads_demucs_from_the_repo(repo: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demucs_repo=repo, separation_device="cpu")
    assert select.get_separator(settings).name == "demucs-htdemucs"


def test_demucs_required_but_missing_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(select, "hubs_reachable", lambda: False)
    settings = Settings(
        data_dir=tmp_path,
        separator="demucs",
        demucs_repo=tmp_path / "nowhere",
        separation_device="cpu",
    )
    with pytest.raises(SeparatorUnavailable):
        select.get_separator(settings)


def test_tft_models_reports_what_auto_resolves_to(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TFT_DEMUCS_REPO", str(repo))
    result = CliRunner().invoke(cli, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "separator in use" in result.output and "demucs" in result.output
    assert "whisper" in result.output.lower() or "base" in result.output
