"""The S3 store: a bucket (and prefix) on AWS or any S3-compatible server.

Why boto3: it is the AWS SDK itself, kept up by AWS and used by most Python code that
talks to S3, so it reads the credentials the way operators expect (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, profiles, instance roles), retries as AWS
recommends, uploads large files in parallel multipart parts (``upload_file``), and takes
a Range on GetObject as one parameter; boto3-stubs give the strict typing the project
asks for. obstore is faster but younger, with an API still moving between minor
versions; s3fs adds a file-system layer (and aiobotocore's pinned botocore) that
nothing here needs.

Every call is blocking: routes call these from the thread pool, never the event loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from textfromtrack.media import storage
from textfromtrack.media.store import S3Location, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

log = logging.getLogger(__name__)

# Parts of 8 MiB, four at a time: a 100 MB upload (the limit) goes in 13 parts. Below
# the threshold a file is one PutObject.
_TRANSFER = TransferConfig(
    multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=4
)
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND


class S3Store:
    on_this_machine = False

    def __init__(self, location: S3Location, *, endpoint_url: str | None, spool: Path) -> None:
        self.location = location
        self.endpoint_url = endpoint_url or None
        self._spool = Path(spool)
        # Path-style addressing for a custom endpoint: SeaweedFS, MinIO and friends serve
        # buckets at http://host/bucket, with no per-bucket DNS names.
        addressing: Literal["path", "auto"] = "path" if self.endpoint_url else "auto"
        session = boto3.session.Session()  # the default session is not thread-safe

        def client(attempts: int, connect_seconds: float, read_seconds: float) -> S3Client:
            return session.client(
                "s3",
                endpoint_url=self.endpoint_url,
                config=Config(
                    retries={"mode": "standard", "max_attempts": attempts},
                    connect_timeout=connect_seconds,
                    read_timeout=read_seconds,
                    s3={"addressing_style": addressing},
                ),
            )

        self.client: S3Client = client(attempts=3, connect_seconds=5, read_seconds=60)
        # /readyz must answer quickly when the store is down: one try, short timeouts.
        self._probe: S3Client = client(attempts=1, connect_seconds=2, read_seconds=5)
        self._spool_ready = threading.Event()

    @property
    def bucket(self) -> str:
        return self.location.bucket

    def describe(self) -> str:
        from textfromtrack.config import mask_url

        where = f"s3://{self.bucket}/{self.location.prefix}"
        return f"{where} at {mask_url(self.endpoint_url)}" if self.endpoint_url else where

    def _key(self, key: str) -> str:
        return self.location.object_key(key)

    def _spool_path(self, key: str, *, fresh: bool) -> Path:
        if not self._spool_ready.is_set():
            self._spool.mkdir(parents=True, exist_ok=True)
            self._spool_ready.set()
        name = PurePosixPath(key).name
        if fresh or not storage.is_upload_name(name):
            # An owner-tagged name, so a killed process's copy is known as debris.
            name = storage.new_upload_name(PurePosixPath(key).suffix.lower())
        return self._spool / name

    def spool(self, key: str) -> Path:
        # An upload keeps its name, so ``path.name`` is the upload's name here too.
        return self._spool_path(key, fresh=False)

    def put_file(self, key: str, path: Path, *, move: bool) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key), Config=_TRANSFER)
        if move:
            storage.remove_quietly(Path(path))

    def fetch(self, key: str, dest: Path) -> None:
        try:
            self.client.download_file(self.bucket, self._key(key), str(dest), Config=_TRANSFER)
        except ClientError as exc:
            storage.remove_quietly(Path(dest))
            if _is_not_found(exc):
                raise FileNotFoundError(key) from exc
            raise
        except BaseException:
            storage.remove_quietly(Path(dest))
            raise

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self._spool_path(key, fresh=True)
        try:
            self.fetch(key, path)
            yield path
        finally:
            storage.remove_quietly(path)

    def local_file(self, key: str) -> Path | None:
        return None  # never on this machine: callers read it with ``read`` or ``local_copy``

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        return StoredObject(key, int(head["ContentLength"]), head["LastModified"].astimezone(UTC))

    def size(self, key: str) -> int | None:
        found = self.stat(key)
        return None if found is None else found.size

    def read(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return
        # The store sends only the asked-for bytes: seeking in a long track is cheap.
        got = self.client.get_object(
            Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
        )
        body = got["Body"]
        try:
            yield from body.iter_chunks(storage.CHUNK_BYTES)
        finally:
            body.close()

    def _pages(self, prefix: str, **extra: Any) -> Iterator[Any]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix), **extra)

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        for page in self._pages(prefix):
            for item in page.get("Contents", []):
                yield StoredObject(
                    self.location.relative(item["Key"]),
                    int(item["Size"]),
                    item["LastModified"].astimezone(UTC),
                )

    def folders(self, prefix: str) -> list[str]:
        names: list[str] = []
        for page in self._pages(prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = self.location.relative(common["Prefix"])[len(prefix) :].strip("/")
                if name:
                    names.append(name)
        return sorted(names)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not remove %s from %s: %s", key, self.describe(), exc)

    def delete_prefix(self, prefix: str) -> None:
        if not prefix.endswith("/"):
            raise ValueError(f"a prefix is a folder, ending in '/': {prefix!r}")
        try:
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": self._key(obj.key)} for obj in self.objects(prefix)
            ]
            for at in range(0, len(keys), DELETE_BATCH):
                done = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": keys[at : at + DELETE_BATCH], "Quiet": True},
                )
                for error in done.get("Errors", []):
                    log.warning("could not remove %s: %s", error.get("Key"), error.get("Message"))
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not remove %s from %s: %s", prefix, self.describe(), exc)

    def check(self) -> str | None:
        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            return "no such bucket" if code in _NOT_FOUND else f"ClientError {code}"
        except BotoCoreError as exc:
            return type(exc).__name__
        return None
