"""Upload storage: generated names, the byte limit while streaming, clean-up."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from textfromtrack.errors import PayloadTooLarge
from textfromtrack.media import storage
from textfromtrack.media.storage import (
    CHUNK_BYTES,
    MAX_UPLOAD_BYTES,
    copy_limited,
    exports_dir,
    new_upload_path,
    remove_quietly,
    remove_tree_quietly,
    upload_writer_is_dead,
    uploads_dir,
)


class Endless(io.RawIOBase):
    """A body that never ends (a client streaming without Content-Length)."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = b"\0" * n
        self.served += n
        return n


class Trickle(io.RawIOBase):
    """Short reads of at most 7 bytes: the count must not assume full chunks."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), 7, len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


class Failing(io.RawIOBase):
    """A connection that drops after its first chunk."""

    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.calls += 1
        if self.calls > 1:
            raise ConnectionResetError("client went away")
        buffer[:10] = b"x" * 10
        return 10


def test_limit_is_100_mib() -> None:
    assert MAX_UPLOAD_BYTES == 100 * 1024 * 1024
    assert CHUNK_BYTES == 1024 * 1024


def test_folders(tmp_path: Path) -> None:
    assert uploads_dir(tmp_path) == tmp_path / "uploads"
    assert exports_dir(tmp_path) == tmp_path / "exports"
    assert not uploads_dir(tmp_path).exists()  # naming a folder does not create it


@pytest.mark.parametrize("extension", [".mp3", ".flac", ".WAV", ""])
def test_new_upload_path_is_generated(tmp_path: Path, extension: str) -> None:
    paths = {new_upload_path(tmp_path, extension) for _ in range(50)}
    assert len(paths) == 50
    for path in paths:
        assert path.parent == uploads_dir(tmp_path) and path.parent.is_dir()
        assert not path.exists()
        owner = rf"[0-9a-f]{{8}}-{os.getpid()}-"
        assert re.fullmatch(owner + r"[0-9a-f]{32}" + re.escape(extension.lower()), path.name)
        assert not upload_writer_is_dead(path.name)  # written by this very process


@pytest.mark.parametrize("extension", ["../x", ".mp3/..", "mp3", "./", ".a b", ".mp3\0"])
def test_new_upload_path_refuses_non_extensions(tmp_path: Path, extension: str) -> None:
    with pytest.raises(ValueError):
        new_upload_path(tmp_path, extension)


@pytest.mark.parametrize(
    ("size", "limit", "ok"),
    [
        (0, 10, True),
        (9, 10, True),
        (10, 10, True),  # exactly the limit is allowed
        (11, 10, False),
        (5000, 10, False),
        (3 * CHUNK_BYTES + 5, 4 * CHUNK_BYTES, True),  # several chunks
        (2 * CHUNK_BYTES, 2 * CHUNK_BYTES, True),  # a limit on a chunk boundary
        (2 * CHUNK_BYTES + 1, 2 * CHUNK_BYTES, False),
    ],
)
def test_copy_limited(tmp_path: Path, size: int, limit: int, ok: bool) -> None:
    data = bytes(i % 251 for i in range(size))
    dest = tmp_path / "upload.bin"
    if ok:
        assert copy_limited(io.BytesIO(data), dest, limit) == size
        assert dest.read_bytes() == data
    else:
        with pytest.raises(PayloadTooLarge) as caught:
            copy_limited(io.BytesIO(data), dest, limit)
        assert caught.value.status_code == 413
        assert caught.value.details == {"max_bytes": limit}
        assert not dest.exists()


def test_endless_body_stops_one_byte_past_the_limit(tmp_path: Path) -> None:
    source = Endless()
    dest = tmp_path / "upload.bin"
    limit = 3 * CHUNK_BYTES + 17
    with pytest.raises(PayloadTooLarge):
        copy_limited(io.BufferedReader(source, buffer_size=1), dest, limit)
    assert source.served <= limit + 1
    assert not dest.exists()


def test_short_reads_are_counted(tmp_path: Path) -> None:
    dest = tmp_path / "upload.bin"
    assert copy_limited(cast(BinaryIO, Trickle(b"a" * 100)), dest, 100) == 100
    with pytest.raises(PayloadTooLarge):
        copy_limited(cast(BinaryIO, Trickle(b"a" * 101)), tmp_path / "other.bin", 100)
    assert not (tmp_path / "other.bin").exists()


def test_partial_file_removed_when_the_source_fails(tmp_path: Path) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(ConnectionResetError):
        copy_limited(cast(BinaryIO, Failing()), dest, 1000)
    assert not dest.exists()


def test_existing_file_is_never_overwritten_or_removed(tmp_path: Path) -> None:
    dest = tmp_path / "upload.bin"
    dest.write_bytes(b"someone else's upload")
    with pytest.raises(FileExistsError):
        copy_limited(io.BytesIO(b"new"), dest, 100)
    assert dest.read_bytes() == b"someone else's upload"


def test_remove_quietly(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    path.write_bytes(b"x")
    remove_quietly(path)
    assert not path.exists()
    remove_quietly(path)  # already gone: fine
    remove_quietly(tmp_path / "never" / "there.mp3")


def test_remove_tree_quietly(tmp_path: Path) -> None:
    folder = exports_dir(tmp_path) / "job-1"
    (folder / "nested").mkdir(parents=True)
    (folder / "transcript.srt").write_text("1\n")
    (folder / "nested" / "x.txt").write_text("x")
    remove_tree_quietly(folder)
    assert not folder.exists() and exports_dir(tmp_path).is_dir()
    remove_tree_quietly(folder)  # already gone: fine


def test_remove_quietly_logs_instead_of_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with caplog.at_level("WARNING", logger=storage.__name__):
        remove_quietly(folder)  # unlink on a directory fails; clean-up must not raise
    assert folder.exists() and "could not remove" in caplog.text
