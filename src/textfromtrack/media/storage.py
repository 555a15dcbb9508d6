"""Where uploads and exports live in the data dir, and storing an upload safely.

Stored uploads get a generated name: the user's filename is metadata only and
never reaches a path, so it cannot traverse, collide or overwrite. The data dir
may be a shared NFS volume (DESIGN "Processes"), hence uuid names rather than
per-process counters.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import uuid
from pathlib import Path
from typing import BinaryIO

from textfromtrack.errors import PayloadTooLarge

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024

UPLOADS = "uploads"
EXPORTS = "exports"


def uploads_dir(data_dir: Path) -> Path:
    return Path(data_dir) / UPLOADS


def exports_dir(data_dir: Path) -> Path:
    return Path(data_dir) / EXPORTS


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


# <host tag>-<pid>-<32 hex>[.ext]: the process that wrote an upload is in its name, so
# after a crash a restarted server can tell the debris of its dead predecessor (an
# upload killed while streaming or probing, before any job owned it) from the upload
# another live process is receiving right now into the same (possibly shared) folder.
_UPLOAD_NAME = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-[0-9a-f]{32}(\.[a-z0-9]+)?")


def new_upload_name(extension: str) -> str:
    """A fresh name for an upload: owner tag, 32 hex characters, then ``extension`` (".mp3").

    The extension is kept because FFmpeg uses it as a hint when probing; it must
    already have passed ``formats.check_extension``.
    """
    if extension and not (
        extension.startswith(".") and extension[1:].isalnum() and extension.isascii()
    ):
        raise ValueError(f"not a plain file extension: {extension!r}")
    return f"{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex}{extension.lower()}"


def is_upload_name(name: str) -> bool:
    """True for a name ``new_upload_name`` could have made."""
    return _UPLOAD_NAME.fullmatch(name) is not None


def new_upload_path(data_dir: Path, extension: str) -> Path:
    """A fresh path in the data dir's uploads folder (``new_upload_name``), which is created."""
    folder = uploads_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / new_upload_name(extension)


def upload_writer_is_dead(name: str) -> bool:
    """True when ``name`` was written by a process on this host that no longer runs."""
    match = _UPLOAD_NAME.fullmatch(name)
    if match is None or match["host"] != _host_tag():
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def copy_limited(src: BinaryIO, dest: Path, max_bytes: int) -> int:
    """Stream ``src`` into a new file at ``dest``; return the number of bytes written.

    Counts as it goes, so the limit holds even when the client sent no (or a
    false) Content-Length. More than ``max_bytes`` raises PayloadTooLarge;
    exactly ``max_bytes`` is allowed. On any failure the partial file is removed.
    ``dest`` must not exist: an upload never overwrites another.
    """
    written = 0
    try:
        with dest.open("xb") as out:
            while True:
                # Read at most one byte past the limit: enough to know it was
                # exceeded without buffering the rest of an oversized body.
                chunk = src.read(min(CHUNK_BYTES, max_bytes - written + 1))
                if not chunk:
                    break
                written += len(chunk)
                if written > max_bytes:
                    raise PayloadTooLarge(
                        f"Upload exceeds the {_megabytes(max_bytes)} limit.",
                        details={"max_bytes": max_bytes},
                    )
                out.write(chunk)
    except FileExistsError:
        raise  # not ours to delete
    except BaseException:
        remove_quietly(dest)
        raise
    return written


def remove_quietly(path: Path) -> None:
    """Delete a file if it is there. Clean-up must never mask the error that caused it."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)


def remove_tree_quietly(path: Path) -> None:
    """Delete a folder (a job's exports) and everything in it, if it is there."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)


def _megabytes(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:g} MB"
