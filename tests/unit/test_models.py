"""The model cache: assembling the bundled Whisper base and resolving model names."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from textfromtrack.pipeline import models
from textfromtrack.pipeline.models import (
    MARKER,
    assemble_bundled_base,
    bundled_base_parts,
    resolve_whisper_model,
)


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """Small stand-ins for the two 70 MB parts, so the cache logic tests run in milliseconds."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    part1 = folder / "model.bin.part1"
    part2 = tmp_path / "model.bin.part2"
    part1.write_bytes(b"A" * 300_000 + b"\x00\x01")
    part2.write_bytes(b"\xff" + b"B" * 200_000)
    (folder / "config.json").write_text('{"alignment_heads": []}')
    (folder / "tokenizer.json").write_text("{}")
    (folder / "vocabulary.txt").write_text("a\nb\n")
    parts = (part1, part2, folder)
    monkeypatch.setattr(models, "bundled_base_parts", lambda: parts)
    return parts


def _assert_assembled(target: Path, parts: tuple[Path, Path, Path]) -> None:
    part1, part2, folder = parts
    assert (target / "model.bin").read_bytes() == part1.read_bytes() + part2.read_bytes()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (target / name).read_bytes() == (folder / name).read_bytes()
    assert (target / MARKER).is_file()
    assert not (target / "preprocessor_config.json").exists()
    # no temporary files left behind
    assert sorted(p.name for p in target.iterdir() if ".tmp" in p.name) == []


def test_the_installed_packages_hold_both_parts() -> None:
    part1, part2, folder = bundled_base_parts()
    assert part1.name == "model.bin.part1" and part1.stat().st_size > 1_000_000
    assert part2.name == "model.bin.part2" and part2.stat().st_size > 1_000_000
    assert part1.parent == folder
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()


def test_assembles_once_and_then_is_a_no_op(
    tmp_path: Path, fake_parts: tuple[Path, Path, Path]
) -> None:
    cache = tmp_path / "cache"
    target = assemble_bundled_base(cache)
    assert target == cache / "whisper-base"
    _assert_assembled(target, fake_parts)

    before = (target / "model.bin").stat()
    assert assemble_bundled_base(cache) == target
    after = (target / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_copies_the_optional_preprocessor_config(
    tmp_path: Path, fake_parts: tuple[Path, Path, Path]
) -> None:
    (fake_parts[2] / "preprocessor_config.json").write_text('{"feature_size": 128}')
    target = assemble_bundled_base(tmp_path / "cache")
    assert (target / "preprocessor_config.json").read_text() == '{"feature_size": 128}'


@pytest.mark.parametrize("damage", ["no marker", "truncated model", "stale marker"])
def test_an_incomplete_folder_is_rebuilt(
    tmp_path: Path, fake_parts: tuple[Path, Path, Path], damage: str
) -> None:
    cache = tmp_path / "cache"
    target = assemble_bundled_base(cache)
    if damage == "no marker":
        (target / MARKER).unlink()
    elif damage == "truncated model":
        with (target / "model.bin").open("r+b") as fh:
            fh.truncate(1000)
    else:  # a new release of the parts packages
        fake_parts[1].write_bytes(b"C" * 1234)
    assert assemble_bundled_base(cache) == target
    _assert_assembled(target, fake_parts)


def test_racing_threads_assemble_one_complete_folder(
    tmp_path: Path, fake_parts: tuple[Path, Path, Path]
) -> None:
    cache = tmp_path / "cache"
    start = threading.Barrier(4)
    results: list[Path] = []
    errors: list[BaseException] = []

    def build() -> None:
        start.wait()
        try:
            results.append(assemble_bundled_base(cache))
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert results == [cache / "whisper-base"] * 4
    _assert_assembled(cache / "whisper-base", fake_parts)


def test_resolve_table(tmp_path: Path, fake_parts: tuple[Path, Path, Path]) -> None:
    cache = tmp_path / "cache"
    bundled = str(cache / "whisper-base")
    local = tmp_path / "my-finetune"
    local.mkdir()
    local_whisper = tmp_path / "whisper-large-v3-ct2"
    local_whisper.mkdir()
    table = [
        ("base", (bundled, "whisper-base")),
        ("whisper-base", (bundled, "whisper-base")),
        (" Base ", (bundled, "whisper-base")),
        (str(local), (str(local), "whisper-my-finetune")),
        (str(local_whisper), (str(local_whisper), "whisper-large-v3-ct2")),
        ("tiny", ("tiny", "whisper-tiny")),
        ("small", ("small", "whisper-small")),
        ("large-v3", ("large-v3", "whisper-large-v3")),
        ("Systran/faster-whisper-small", ("Systran/faster-whisper-small",) * 2),
    ]
    for name, expected in table:
        assert resolve_whisper_model(name, cache) == expected, name
    assert (cache / "whisper-base" / MARKER).is_file()


def test_resolve_rejects_an_empty_name(tmp_path: Path) -> None:
    with pytest.raises(models.ModelUnavailableError):
        resolve_whisper_model("  ", tmp_path)
