"""The storage interface's pure parts: TFT_STORAGE_URL, key naming, and the folder store."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from textfromtrack.config import Settings, masked_settings
from textfromtrack.media import storage
from textfromtrack.media.store import (
    LocalLocation,
    LocalStore,
    S3Location,
    job_prefix,
    parse_storage_url,
    upload_key,
)

DATA = Path("/srv/tft-data")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, LocalLocation(DATA)),
        ("", LocalLocation(DATA)),
        ("  ", LocalLocation(DATA)),
        ("/mnt/shared/tft", LocalLocation(Path("/mnt/shared/tft"))),
        ("relative/folder", LocalLocation(Path("relative/folder"))),
        ("file:///mnt/shared/tft", LocalLocation(Path("/mnt/shared/tft"))),
        ("file://localhost/mnt/x", LocalLocation(Path("/mnt/x"))),
        ("s3://tft-files", S3Location("tft-files", "")),
        ("s3://tft-files/", S3Location("tft-files", "")),
        ("s3://tft-files/prod", S3Location("tft-files", "prod")),
        ("s3://tft-files/prod/eu/", S3Location("tft-files", "prod/eu")),
        ("s3://tft-files//prod//eu", S3Location("tft-files", "prod/eu")),
        ("S3://tft.files.example/p", S3Location("tft.files.example", "p")),
    ],
)
def test_storage_urls_that_parse(url: str | None, expected: object) -> None:
    assert parse_storage_url(url, DATA) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("s3://", "bucket"),
        ("s3:///prefix", "bucket"),
        ("s3://ab/prefix", "bucket"),  # under three characters
        ("s3://Upper-Case/p", "bucket"),
        ("s3://under_score/p", "bucket"),
        ("s3://a..b/p", "bucket"),
        ("s3://key:secret@bucket/p", "AWS_ACCESS_KEY_ID"),
        ("s3://tft-files/../other", "'..'"),
        ("s3://tft-files/p?versioning=1", "query"),
        ("s3://tft-files/p#frag", "query"),
        ("gs://tft-files/p", "unsupported"),
        ("https://s3.example.com/bucket", "unsupported"),
        ("file://otherhost/path", "local folder"),
    ],
)
def test_storage_urls_that_are_refused(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_storage_url(url, DATA)


def test_a_bad_storage_url_stops_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unsupported storage URL"):
        Settings(data_dir=tmp_path, storage_url="ftp://x/y")


def test_config_shows_storage_settings_without_credentials(tmp_path: Path) -> None:
    shown = masked_settings(
        Settings(
            data_dir=tmp_path,
            storage_url="s3://tft-files/prod",
            s3_endpoint_url="http://admin:hunter2@seaweed:8333",
        )
    )
    assert shown["storage_url"] == "s3://tft-files/prod"
    assert shown["s3_endpoint_url"] == "http://admin:********@seaweed:8333"


@pytest.mark.parametrize(
    ("location", "key", "object_key"),
    [
        (S3Location("b-1", ""), "uploads/x.mp3", "uploads/x.mp3"),
        (S3Location("b-1", "prod"), "uploads/x.mp3", "prod/uploads/x.mp3"),
        (S3Location("b-1", "prod/eu"), "exports/j/source.flac", "prod/eu/exports/j/source.flac"),
    ],
)
def test_object_keys_sit_under_the_prefix(location: S3Location, key: str, object_key: str) -> None:
    assert location.object_key(key) == object_key
    assert location.relative(object_key) == key


def test_key_naming() -> None:
    name = storage.new_upload_name(".MP3")
    assert name.endswith(".mp3") and storage.is_upload_name(name)
    assert upload_key(name) == f"uploads/{name}"
    assert job_prefix("0b7c-job") == "exports/0b7c-job/"
    assert not storage.is_upload_name("source.flac")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "nul\x00"])
def test_names_that_would_make_another_key_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        upload_key(name)
    with pytest.raises(ValueError, match="plain name"):
        job_prefix(name)


@pytest.mark.parametrize("key", ["", "a//b", "../etc/passwd", "uploads/../../x", "./x"])
def test_the_folder_store_refuses_keys_that_climb_out(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        LocalStore(tmp_path).path(key)


def test_the_folder_store_is_the_data_dir_laid_out_as_before(tmp_path: Path) -> None:
    files = LocalStore(tmp_path)
    name = storage.new_upload_name(".wav")
    key = upload_key(name)
    spooled = files.spool(key)
    # Written in place: the spool is the upload's own file, so storing it copies nothing.
    assert spooled == storage.uploads_dir(tmp_path) / name
    spooled.write_bytes(b"0123456789")
    files.put_file(key, spooled, move=True)
    assert spooled.read_bytes() == b"0123456789"
    assert files.size(key) == 10 and files.local_file(key) == spooled
    assert b"".join(files.read(key, 2, 5)) == b"234"
    assert b"".join(files.read(key, 8, 50)) == b"89"
    with files.local_copy(key) as local:
        assert local == spooled  # no copy for a local folder

    kept = f"{job_prefix('job-1')}source.wav"
    files.put_file(kept, spooled, move=False)
    assert (tmp_path / "exports" / "job-1" / "source.wav").read_bytes() == b"0123456789"
    assert spooled.exists()
    assert [o.key for o in files.objects("exports/")] == [kept]
    assert [o.name for o in files.objects("uploads/")] == [name]
    assert files.folders("exports/") == ["job-1"]

    dest = tmp_path / "elsewhere.wav"
    files.fetch(kept, dest)
    assert dest.read_bytes() == b"0123456789"

    files.delete_prefix(job_prefix("job-1"))
    files.delete(key)
    files.delete(key)  # twice is fine: clean-up is quiet
    assert files.stat(kept) is None and files.size(key) is None
    assert list(files.objects("exports/")) == [] and files.folders("exports/") == []
    with pytest.raises(FileNotFoundError), files.local_copy(key):
        pass
    with pytest.raises(FileNotFoundError):
        files.fetch(key, tmp_path / "gone.wav")
    assert not (tmp_path / "gone.wav").exists()
    with pytest.raises(ValueError, match="whole store"):
        files.delete_prefix("")
    assert files.check() is None
