"""Upload checks: the extension allow-list, container agreement, measured duration.

Audio is written on the fly with PyAV's own encoders (short tones, silent FLAC
at 8 kHz for the ten-minute boundary), so there are no binary fixtures. The
shared real recordings in ../shared/testdata are used when present.
"""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.audio.stream import AudioStream

from textfromtrack.errors import TrackTooLong, ValidationFailed
from textfromtrack.media.decode import decode_audio
from textfromtrack.media.formats import (
    ALLOWED_EXTENSIONS,
    ALLOWED_FORMATS,
    check_extension,
    extension_of,
)
from textfromtrack.media.probe import AudioInfo, probe

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"

# extension -> (muxer, encoder) used to write a real file of that type.
WRITERS: dict[str, tuple[str, str]] = {
    ".mp3": ("mp3", "libmp3lame"),
    ".wav": ("wav", "pcm_s16le"),
    ".flac": ("flac", "flac"),
    ".m4a": ("ipod", "aac"),
    ".aac": ("adts", "aac"),
    ".ogg": ("ogg", "libopus"),
    ".oga": ("ogg", "flac"),
    ".opus": ("opus", "libopus"),
    ".webm": ("webm", "libopus"),
    ".aiff": ("aiff", "pcm_s16be"),
    ".aif": ("aiff", "pcm_s16be"),
    ".wma": ("asf", "wmav2"),
}

# What FFmpeg detects when reading each back: (container format, codec).
DETECTED: dict[str, tuple[str, str]] = {
    ".mp3": ("mp3", "mp3"),
    ".wav": ("wav", "pcm_s16le"),
    ".flac": ("flac", "flac"),
    ".m4a": (MP4, "aac"),
    ".aac": ("aac", "aac"),
    ".ogg": ("ogg", "opus"),
    ".oga": ("ogg", "flac"),
    ".opus": ("ogg", "opus"),
    ".webm": ("matroska,webm", "opus"),
    ".aiff": ("aiff", "pcm_s16be"),
    ".aif": ("aiff", "pcm_s16be"),
    ".wma": ("asf", "wmav2"),
}


def write_audio(
    path: Path,
    seconds: float,
    *,
    rate: int = 16000,
    layout: str = "mono",
    amplitude: float = 0.3,
    kind: str | None = None,
    muxer_options: dict[str, str] | None = None,
) -> Path:
    """A 440 Hz tone (silence with amplitude=0) in the type ``kind`` or the path's suffix.

    PyAV's encoder converts our float frames to the codec's sample format and
    re-blocks them to its frame size, so one writer serves every codec.
    """
    muxer, codec = WRITERS[kind or path.suffix.lower()]
    channels = 2 if layout == "stereo" else 1
    with av.open(str(path), "w", format=muxer, options=muxer_options or {}) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, AudioStream)
        if codec == "wmav2":
            stream.bit_rate = 64000  # its encoder has no default bit rate
        total = round(seconds * rate)
        block = rate  # one second per frame keeps the 10-minute files quick
        pts = 0
        while pts < total:
            n = min(block, total - pts)
            t = np.arange(pts, pts + n) / rate
            wave = amplitude * np.sin(2 * np.pi * 440.0 * t)
            data = np.tile(wave, (channels, 1)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            container.mux(stream.encode(frame))
            pts += n
        container.mux(stream.encode(None))
    return path


def expect_invalid(path: Path, filename: str, *needles: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        probe(path, filename)
    err = caught.value
    assert err.status_code == 400 and err.code == "validation_error"
    assert "file" in err.details["fields"]
    for needle in needles:
        assert needle.lower() in err.message.lower(), err.message
    return err


# --- extensions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("song.mp3", ".mp3"),
        ("SONG.MP3", ".mp3"),
        ("my.track.v2.Flac", ".flac"),
        ("noextension", ""),
        ("", ""),
        (".mp3", ""),
        ("trailingdot.", ""),
        ("track.mp3 ", ".mp3"),
        ("dir/sub/track.ogg", ".ogg"),
        ("C:\\Users\\me\\Music\\track.WAV", ".wav"),
        ("archive.tar.gz", ".gz"),
        ("folder.mp3/track", ""),
    ],
)
def test_extension_of(filename: str, expected: str) -> None:
    assert extension_of(filename) == expected


def test_allow_list_covers_the_spec_and_every_entry_has_formats() -> None:
    assert {".mp3", ".wav", ".flac"} <= set(ALLOWED_EXTENSIONS)
    assert set(ALLOWED_EXTENSIONS) == set(WRITERS) == set(DETECTED)
    for ext, names in ALLOWED_FORMATS.items():
        assert ext == ext.lower() and ext.startswith(".") and names


@pytest.mark.parametrize("ext", ALLOWED_EXTENSIONS)
def test_check_extension_accepts_allowed(ext: str) -> None:
    assert check_extension(f"Track{ext.upper()}") == ext


@pytest.mark.parametrize(
    "filename", ["notes.txt", "track", "clip.mp4", "track.mp3.exe", "track.", ".flac", "x.mkv"]
)
def test_check_extension_rejects_others_listing_allowed(filename: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_extension(filename)
    field = caught.value.details["fields"]["file"]
    for ext in ALLOWED_EXTENSIONS:
        assert ext in field and ext in caught.value.message


# --- every accepted type ----------------------------------------------------------


@pytest.mark.parametrize("ext", ALLOWED_EXTENSIONS)
def test_every_allowed_type_probes_with_its_measured_duration(tmp_path: Path, ext: str) -> None:
    path = write_audio(tmp_path / f"upload{ext}", 3.0)
    info = probe(path, f"My Song{ext.upper()}")
    fmt, codec = DETECTED[ext]
    assert (info.format_name, info.codec) == (fmt, codec)
    assert info.format_name in ALLOWED_FORMATS[ext]
    assert info.duration_seconds == pytest.approx(3.0, abs=0.1)
    assert info.channels == 1
    # Opus always decodes at 48 kHz, whatever it was fed.
    assert info.sample_rate == (48000 if codec == "opus" else 16000)


def test_stereo_44k_reports_channels_and_rate(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.flac", 2.0, rate=44100, layout="stereo")
    assert probe(path, "a.flac") == AudioInfo(2.0, "flac", "flac", 44100, 2)


def test_mp4_wrapped_aac_is_accepted_as_aac(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.aac", 2.0, kind=".m4a")
    assert probe(path, "itunes.aac").format_name == MP4


# --- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "named", "detected", "advice"),
    [
        (".wav", ".mp3", "WAV", ".wav"),
        (".mp3", ".wav", "MP3", ".mp3"),
        (".flac", ".ogg", "FLAC", ".flac"),
        (".ogg", ".webm", "Ogg", ".ogg"),
        (".webm", ".m4a", "WebM", ".webm"),
        (".aiff", ".wav", "AIFF", ".aiff"),
        (".wma", ".mp3", "WMA", ".wma"),
        (".m4a", ".flac", "MP4", ".m4a"),
    ],
)
def test_container_must_agree_with_extension(
    tmp_path: Path, real: str, named: str, detected: str, advice: str
) -> None:
    path = write_audio(tmp_path / f"stored{named}", 1.0, kind=real)
    err = expect_invalid(path, f"track{named}", named, detected, advice)
    assert detected in err.details["fields"]["file"]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    expect_invalid(path, "empty.mp3", "empty")


def _png() -> bytes:
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + b"\0" * 4


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("notes.mp3", b"This is a text file, not audio.\n" * 200, "could not be read"),
        ("tiny.wav", b"hi", "could not be read"),
        ("picture.mp3", _png(), "PNG image"),
        # Opens as FLAC on the name's say-so alone, with an unreadable stream.
        ("noise.flac", np.random.default_rng(7).bytes(40_000), "audio could not be read"),
        ("noise.m4a", np.random.default_rng(8).bytes(40_000), "could not be read"),
    ],
)
def test_non_audio_is_refused(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    expect_invalid(path, name, needle)


@pytest.mark.parametrize(
    ("ext", "keep", "needle"),
    [
        # FLAC's 42-byte STREAMINFO header, then noise: opens, decodes nothing.
        (".flac", 42, "no decodable audio"),
        # The first ADTS frame header or an ID3 tag, then noise: which stage
        # (open, stream, decode) refuses it depends on the noise; that one does.
        (".aac", 64, ""),
        (".mp3", 64, ""),
        # A WAV header over noise is valid PCM (white noise) by definition, so
        # garbage is only detectable where the codec has structure.
    ],
)
def test_valid_header_over_garbage_is_refused(
    tmp_path: Path, ext: str, keep: int, needle: str
) -> None:
    good = write_audio(tmp_path / f"good{ext}", 3.0).read_bytes()
    noise = np.random.default_rng(1).bytes(len(good) - keep)
    path = tmp_path / f"bad{ext}"
    path.write_bytes(good[:keep] + noise)
    expect_invalid(path, f"bad{ext}", needle)


def test_video_without_audio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clip.m4a"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(
                np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    expect_invalid(path, "clip.m4a", "no audio stream")


# --- truncated files ---------------------------------------------------------------


@pytest.mark.parametrize("ext", [".mp3", ".wav", ".ogg", ".webm", ".aiff"])
def test_truncated_stream_formats_keep_the_intact_part(tmp_path: Path, ext: str) -> None:
    """FFmpeg drops the cut-off last frame of these silently: what remains is good audio."""
    data = write_audio(tmp_path / f"full{ext}", 6.0).read_bytes()
    path = tmp_path / f"half{ext}"
    path.write_bytes(data[: len(data) // 2])
    info = probe(path, f"half{ext}")
    assert info.duration_seconds == pytest.approx(3.0, abs=0.35)
    assert decode_audio(path).shape[0] / 16000 == pytest.approx(info.duration_seconds, abs=0.02)


@pytest.mark.parametrize(
    ("ext", "needle"),
    [
        (".flac", "truncated or corrupt"),  # the decoder fails on the cut frame
        (".aac", "truncated or corrupt"),
        (".m4a", "could not be read"),  # the index (moov) is at the end
    ],
)
def test_truncated_files_that_fail_to_decode_are_refused(
    tmp_path: Path, ext: str, needle: str
) -> None:
    data = write_audio(tmp_path / f"full{ext}", 6.0).read_bytes()
    path = tmp_path / f"half{ext}"
    path.write_bytes(data[: len(data) // 2])
    expect_invalid(path, f"half{ext}", needle)


# --- the ten-minute limit ---------------------------------------------------------


@pytest.fixture(scope="module")
def long_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long")
    write_audio(folder / "600.flac", 600.0, rate=8000, amplitude=0.0)
    write_audio(folder / "601.flac", 601.0, rate=8000, amplitude=0.0)
    return folder


def test_exactly_ten_minutes_is_allowed(long_dir: Path) -> None:
    info = probe(long_dir / "600.flac", "long.flac")
    assert info.duration_seconds == 600.0


def test_over_ten_minutes_is_track_too_long(long_dir: Path) -> None:
    with pytest.raises(TrackTooLong) as caught:
        probe(long_dir / "601.flac", "long.flac")
    err = caught.value
    assert (err.status_code, err.code) == (400, "track_too_long")
    assert err.details["max_seconds"] == 600
    assert isinstance(err.details["max_seconds"], int)
    # Decoding stopped at the first frame past the limit, not at the end.
    assert 600.0 < err.details["duration_seconds_at_least"] < 601.0


@pytest.mark.parametrize(
    ("limit", "too_long"), [(3.0, False), (2.999, True), (2.5, True), (10.0, False)]
)
def test_limit_boundary(tmp_path: Path, limit: float, too_long: bool) -> None:
    path = write_audio(tmp_path / "three.wav", 3.0, rate=8000)
    if too_long:
        with pytest.raises(TrackTooLong) as caught:
            probe(path, "three.wav", limit)
        assert caught.value.details["max_seconds"] == limit
    else:
        assert probe(path, "three.wav", limit).duration_seconds == 3.0


# --- headers are not trusted ----------------------------------------------------------


def _claim_total_samples(path: Path, samples: int) -> None:
    """Rewrite the 36-bit total-samples field of a FLAC STREAMINFO block."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    (packed,) = struct.unpack_from(">Q", data, 18)
    packed = (packed & ~((1 << 36) - 1)) | samples
    struct.pack_into(">Q", data, 18, packed)
    path.write_bytes(bytes(data))


def test_flac_header_claiming_one_second_is_measured(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "lie.flac", 5.0, rate=8000)
    _claim_total_samples(path, 8000)
    with av.open(str(path)) as container:
        assert container.duration == 1_000_000  # the header's claim, in microseconds
    assert probe(path, "lie.flac").duration_seconds == 5.0


def test_long_flac_with_short_header_is_still_too_long(long_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "lie.flac"
    path.write_bytes((long_dir / "601.flac").read_bytes())
    _claim_total_samples(path, 8000 * 10)
    with pytest.raises(TrackTooLong):
        probe(path, "lie.flac")


@pytest.mark.parametrize(
    ("data_size", "measured"),
    [
        # FFmpeg's WAV demuxer stops at the declared data size, so only that much
        # is ever decoded: probe charges, and the worker transcribes, 1 s.
        (8000 * 2, 1.0),
        # 0 and 0xFFFFFFFF mean "unknown" (streamed WAV): read to the end.
        (0, 5.0),
        (0xFFFFFFFF, 5.0),
    ],
)
def test_wav_data_size_field(tmp_path: Path, data_size: int, measured: float) -> None:
    path = write_audio(tmp_path / "a.wav", 5.0, rate=8000)
    data = bytearray(path.read_bytes())
    offset = data.index(b"data") + 4
    struct.pack_into("<I", data, offset, data_size)
    struct.pack_into("<I", data, 4, 0xFFFFFFFF if data_size == 0xFFFFFFFF else 36 + data_size)
    path.write_bytes(bytes(data))
    info = probe(path, "a.wav")
    assert info.duration_seconds == pytest.approx(measured, abs=0.01)
    assert decode_audio(path).shape[0] / 16000 == pytest.approx(measured, abs=0.01)


def test_sample_rate_change_midstream_is_measured_and_decoded(tmp_path: Path) -> None:
    """Two bare MP3 streams spliced: 2 s at 16 kHz then 2 s at 22.05 kHz."""
    bare = {"id3v2_version": "0", "write_xing": "0"}
    first = write_audio(tmp_path / "a.mp3", 2.0, rate=16000, muxer_options=bare)
    second = write_audio(tmp_path / "b.mp3", 2.0, rate=22050, muxer_options=bare)
    path = tmp_path / "spliced.mp3"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    info = probe(path, "spliced.mp3")
    # Encoder delay and padding of two ungapless streams: about 0.08 s each.
    assert info.duration_seconds == pytest.approx(4.0, abs=0.25)
    # Each part is resampled at its own rate (a single passthrough resampler
    # would have let the 22.05 kHz frames through as if 16 kHz: ~4.9 s).
    assert decode_audio(path).shape[0] / 16000 == pytest.approx(info.duration_seconds, abs=0.01)


# --- real recordings ------------------------------------------------------------------


def _manifest() -> list[object]:
    manifest = TESTDATA / "manifest.json"
    if not manifest.is_file():
        return [pytest.param(None, 0.0, marks=pytest.mark.skip(reason=f"no {TESTDATA}"))]
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    return [
        pytest.param(e["path"], float(e["duration_s"]), id=Path(e["path"]).name)
        for e in entries
        if extension_of(e["path"]) in ALLOWED_FORMATS and (TESTDATA / e["path"]).is_file()
    ]


@pytest.mark.parametrize(("relpath", "seconds"), _manifest())
def test_real_recordings(relpath: str, seconds: float) -> None:
    path = TESTDATA / relpath
    info = probe(path, path.name)
    assert info.duration_seconds == pytest.approx(seconds, abs=0.1)
    assert info.channels in (1, 2) and info.sample_rate in (16000, 44100)
