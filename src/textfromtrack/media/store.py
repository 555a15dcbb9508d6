"""Where uploads and kept audio are stored: one small interface, two implementations.

DESIGN "Files live behind one storage interface": the data dir by default (``LocalStore``,
the same files in the same places as ever) or an S3-compatible bucket for a fleet
(``media.s3.S3Store``), chosen by ``TFT_STORAGE_URL``. The interface lives in ``media/``
beside the upload naming it stores (``media/storage.py``), as DESIGN's layout has it;
boto3 is imported only by ``media/s3.py``, so the embedded default never loads it.

Keys are relative, ``/``-separated names, the same in both stores:

- ``uploads/<host8>-<pid>-<uuid32>.<ext>``: an upload, owned by ``jobs.upload_name``;
- ``exports/<job id>/source.<ext>`` (and ``playback.mp3``): a job's kept audio.

The database stores only the upload's name (``jobs.upload_name``), never a path or a
bucket, so moving the files to another store (or prefix) needs no migration.

Code that needs the bytes as a local file (the decoder, the prober) asks for one:
``spool`` names where a new object is written before ``put_file``, and ``local_copy``
lends a local file with an object's bytes. For the data dir both are the object's own
file, so the default costs no copy at all.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from textfromtrack.media import storage

if TYPE_CHECKING:
    from textfromtrack.config import Settings

log = logging.getLogger(__name__)

UPLOADS_PREFIX = f"{storage.UPLOADS}/"
EXPORTS_PREFIX = f"{storage.EXPORTS}/"
# Where the S3 store writes the local copies it uploads from and downloads to, in the
# data dir, under the same <host>-<pid>- names as uploads, so the debris a killed
# process leaves is recognised and removed (``jobs.maintenance.remove_orphans``).
SPOOL = "spool"

# AWS's rules for a bucket name, which every S3-compatible store accepts too.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def upload_key(name: str) -> str:
    """The key of the upload a job refers to by ``jobs.upload_name``."""
    _check_name(name)
    return UPLOADS_PREFIX + name


def job_prefix(job_id: str) -> str:
    """Everything a job keeps (its audio) lives under this prefix."""
    _check_name(job_id)
    return f"{EXPORTS_PREFIX}{job_id}/"


def _check_name(name: str) -> None:
    # A name is one path part: it can never climb out of its folder or make another key.
    if not name or "/" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"not a plain name: {name!r}")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # aware, UTC

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


class Store(Protocol):
    """Files by key. Deleting is quiet: clean-up must never mask the error that caused it."""

    @property
    def on_this_machine(self) -> bool:
        """True when the files are in a local folder, so a writer's pid can be checked."""

    def describe(self) -> str:
        """Where the files are, for logs and ``/readyz`` (never a secret)."""

    def spool(self, key: str) -> Path:
        """A local path to write a new object's bytes to, then hand to ``put_file``."""

    def put_file(self, key: str, path: Path, *, move: bool) -> None:
        """Store the local file ``path`` as ``key``; ``move`` consumes ``path``."""

    def fetch(self, key: str, dest: Path) -> None:
        """Copy the object into a new local file ``dest``; FileNotFoundError if it is gone."""

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A local file with the object's bytes, for the length of a ``with`` block."""

    def local_file(self, key: str) -> Path | None:
        """The object's own file when the store is a local folder and it exists, else None."""

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None when there is none."""

    def stat(self, key: str) -> StoredObject | None:
        """Size and modification time, or None when there is none."""

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` up to (not including) ``end`` of the object, in chunks."""

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under the folder ``prefix`` (ending in ``/``), at any depth."""

    def folders(self, prefix: str) -> list[str]:
        """Names of the folders directly under ``prefix`` (``exports/`` -> job ids)."""

    def delete(self, key: str) -> None:
        """Remove one object if it is there."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix`` (a job's folder)."""

    def check(self) -> str | None:
        """None when the store takes requests, else what is wrong (``/readyz``)."""


@dataclass(frozen=True)
class LocalLocation:
    root: Path


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # no leading or trailing "/"; "" for the bucket's root

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def relative(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1 :] if self.prefix else object_key


def parse_storage_url(url: str | None, data_dir: Path) -> LocalLocation | S3Location:
    """``TFT_STORAGE_URL``: unset or empty is the data dir; ``s3://bucket[/prefix]`` a
    bucket; ``file:///path`` or a plain path a local folder. Anything else is an error,
    raised at start-up rather than at the first upload."""
    if url is None or not url.strip():
        return LocalLocation(Path(data_dir))
    url = url.strip()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "":
        return LocalLocation(Path(url))
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"a storage URL takes no query or fragment: {url!r}")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError(f"a file: storage URL names a local folder: {url!r}")
        return LocalLocation(Path(parts.path))
    if scheme == "s3":
        bucket = parts.netloc
        if "@" in bucket or ":" in bucket:
            raise ValueError(
                "put S3 credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and the "
                "address in TFT_S3_ENDPOINT_URL, not in TFT_STORAGE_URL"
            )
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValueError(f"not an S3 bucket name: {bucket!r} (in {url!r})")
        segments = [s for s in parts.path.split("/") if s]
        if any(s in (".", "..") for s in segments):
            raise ValueError(f"an S3 prefix cannot contain '.' or '..' parts: {url!r}")
        return S3Location(bucket, "/".join(segments))
    raise ValueError(f"unsupported storage URL {url!r}: use a folder or s3://bucket/prefix")


class LocalStore:
    """A folder on this machine: by default the data dir, laid out as it always was."""

    on_this_machine = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (which need not exist)."""
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root.joinpath(*parts)

    def spool(self, key: str) -> Path:
        # The object's own file: written in place, so put_file(move=True) costs nothing.
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def put_file(self, key: str, path: Path, *, move: bool) -> None:
        dest = self.path(key)
        if move and Path(path) == dest:
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        try:
            if move:
                os.replace(path, dest)
                return
            shutil.copyfile(path, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def fetch(self, key: str, dest: Path) -> None:
        src = self.path(key)
        try:
            shutil.copyfile(src, dest)
        except BaseException:
            storage.remove_quietly(dest)
            raise

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path

    def local_file(self, key: str) -> Path | None:
        path = self.path(key)
        return path if path.is_file() else None

    def stat(self, key: str) -> StoredObject | None:
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredObject(key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))

    def size(self, key: str) -> int | None:
        found = self.stat(key)
        return None if found is None else found.size

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        with self.path(key).open("rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(storage.CHUNK_BYTES, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        folder = self._folder(prefix)
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # removed meanwhile
            if path.is_file():
                rel = path.relative_to(self.root).as_posix()
                yield StoredObject(rel, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))

    def _folder(self, prefix: str) -> Path:
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"a prefix is a folder, ending in '/': {prefix!r}")
        return self.path(prefix.rstrip("/")) if prefix else self.root

    def folders(self, prefix: str) -> list[str]:
        folder = self._folder(prefix)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def delete(self, key: str) -> None:
        storage.remove_quietly(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        if not prefix:
            raise ValueError("refusing to delete the whole store")
        storage.remove_tree_quietly(self._folder(prefix))

    def check(self) -> str | None:
        # The data dir's own check (health.py) covers a writable folder; a separate folder
        # is checked the same way here.
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".readyz-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return f"{type(exc).__name__}: {exc.strerror or exc}"
        return None


def spool_dir(data_dir: Path) -> Path:
    return Path(data_dir) / SPOOL


@functools.lru_cache(maxsize=8)
def _open(url: str | None, endpoint: str | None, data_dir: Path) -> Store:
    location = parse_storage_url(url, data_dir)
    if isinstance(location, LocalLocation):
        return LocalStore(location.root)
    from textfromtrack.media.s3 import S3Store

    return S3Store(location, endpoint_url=endpoint, spool=spool_dir(data_dir))


def store_for(settings: Settings) -> Store:
    """The store the settings name; one per process and location (an S3 client is thread-safe
    and costs a connection pool, so it is made once and shared)."""
    return _open(settings.storage_url, settings.s3_endpoint_url, Path(settings.data_dir))
