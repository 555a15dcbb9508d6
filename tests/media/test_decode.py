"""Decoding to the engines' float PCM, and the MP3 re-encode for the cloud engine.

Sources are WAV files written with the standard library, so what goes in is
known sample for sample.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from textfromtrack.media.decode import (
    DecodeError,
    decode_audio,
    decode_chunks,
    header_seconds,
    resample_array,
    resample_chunks,
    transcode_mp3,
)
from textfromtrack.media.probe import probe

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"


def write_wav(path: Path, channels: npt.NDArray[np.float64], rate: int) -> Path:
    """``channels`` is (n_channels, n_samples) in [-1, 1]; written as 16-bit PCM."""
    pcm = (np.clip(channels, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(pcm.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.T.tobytes())  # interleaved
    return path


def tone(seconds: float, rate: int, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize(
    ("src_rate", "src_channels", "seconds"),
    [(8000, 1, 2.0), (16000, 1, 1.5), (22050, 1, 1.0), (44100, 2, 2.0), (48000, 2, 0.5)],
)
def test_decodes_to_16k_mono_float32(
    tmp_path: Path, src_rate: int, src_channels: int, seconds: float
) -> None:
    signal = np.tile(tone(seconds, src_rate), (src_channels, 1))
    path = write_wav(tmp_path / "in.wav", signal, src_rate)
    audio = decode_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.flags.c_contiguous
    # Flushing the resampler is what delivers the last few milliseconds.
    assert abs(audio.shape[0] - round(seconds * 16000)) <= 2
    middle = audio[1000:-1000]  # away from the resampler's edges
    # Identical channels downmix at -3 dB each: 0.3 * 2 * 0.7071 for stereo.
    peak = 0.3 if src_channels == 1 else 0.3 * 2 * np.sqrt(0.5)
    assert float(np.max(np.abs(middle))) == pytest.approx(peak, rel=0.03)
    assert rms(middle) == pytest.approx(peak / np.sqrt(2), rel=0.03)


def test_stereo_keeps_channel_order_and_shape(tmp_path: Path) -> None:
    rate = 44100
    left = tone(2.0, rate)
    path = write_wav(tmp_path / "lr.wav", np.stack([left, np.zeros_like(left)]), rate)
    audio = decode_audio(path, sample_rate=44100, channels=2)
    assert audio.dtype == np.float32 and audio.shape == (2, 2 * rate)
    assert rms(audio[0]) == pytest.approx(0.3 / np.sqrt(2), rel=0.01)
    assert rms(audio[1]) < 1e-4
    # At the source's own rate and format the samples come through unchanged.
    assert np.allclose(audio[0], left, atol=1e-4)  # 16-bit quantisation


def test_mono_source_upmixed_to_stereo(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "m.wav", tone(1.0, 16000)[None, :], 16000)
    audio = decode_audio(path, sample_rate=16000, channels=2)
    assert audio.shape == (2, 16000)
    assert np.allclose(audio[0], audio[1])


@pytest.mark.parametrize(("sample_rate", "channels"), [(16000, 3), (16000, 0), (0, 1), (-8000, 1)])
def test_bad_arguments(tmp_path: Path, sample_rate: int, channels: int) -> None:
    path = write_wav(tmp_path / "m.wav", tone(0.1, 16000)[None, :], 16000)
    with pytest.raises(ValueError, match="must be"):
        decode_audio(path, sample_rate=sample_rate, channels=channels)


def test_undecodable_file_raises_decode_error_without_paths(tmp_path: Path) -> None:
    path = tmp_path / "secret-location" / "notes.mp3"
    path.parent.mkdir()
    path.write_text("not audio at all\n" * 100)
    with pytest.raises(DecodeError) as caught:
        decode_audio(path)
    # The message ends up in the job's error text: no server paths.
    assert "secret-location" not in str(caught.value)


def test_transcode_mp3_is_mono_16k_mp3(tmp_path: Path) -> None:
    rate = 44100
    left = tone(5.0, rate)
    src = write_wav(tmp_path / "in.wav", np.stack([left, 0.5 * left]), rate)
    dest = transcode_mp3(src, tmp_path / "out.mp3")
    assert dest == tmp_path / "out.mp3"
    info = probe(dest, "out.mp3")
    assert (info.format_name, info.codec, info.channels, info.sample_rate) == (
        "mp3",
        "mp3",
        1,
        16000,
    )
    assert info.duration_seconds == pytest.approx(5.0, abs=0.05)
    # 128 kb/s constant bit rate: 16 kB per second, plus a small header.
    assert dest.stat().st_size == pytest.approx(5.0 * 128_000 / 8, rel=0.05)
    audio = decode_audio(dest)
    assert rms(audio[2000:-2000]) > 0.1


def test_transcode_honours_bitrate_and_rate(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", tone(4.0, 16000)[None, :], 16000)
    dest = transcode_mp3(src, tmp_path / "out.mp3", bitrate=32_000, sample_rate=22050)
    info = probe(dest, "out.mp3")
    assert info.sample_rate == 22050 and info.channels == 1
    assert dest.stat().st_size == pytest.approx(4.0 * 32_000 / 8, rel=0.1)


def test_failed_transcode_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "notes.wav"
    src.write_bytes(b"RIFF junk, not a wave file" * 10)
    dest = tmp_path / "out.mp3"
    with pytest.raises(DecodeError):
        transcode_mp3(src, dest)
    assert not dest.exists()


@pytest.mark.skipif(not (TESTDATA / "en" / "jfk_whisper.flac").is_file(), reason="no testdata")
def test_real_stereo_44k_flac() -> None:
    path = TESTDATA / "en" / "jfk_whisper.flac"  # 11.0 s, 44.1 kHz stereo
    audio = decode_audio(path)
    assert audio.dtype == np.float32 and audio.shape == (11 * 16000,)
    assert 0.01 < rms(audio) < 0.5 and float(np.max(np.abs(audio))) < 1.5
    stereo = decode_audio(path, sample_rate=44100, channels=2)
    assert stereo.shape == (2, 11 * 44100)


@pytest.mark.skipif(not (TESTDATA / "music").is_dir(), reason="no testdata")
def test_real_mp3_music() -> None:
    path = TESTDATA / "music" / "spleeter_audio_example_SlowMotionDream_StevenMBryant.mp3"
    if not path.is_file():
        pytest.skip(f"no {path.name}")
    audio = decode_audio(path)
    assert audio.shape[0] / 16000 == pytest.approx(
        probe(path, path.name).duration_seconds, abs=0.01
    )
    assert rms(audio) > 0.01


@pytest.mark.parametrize(
    ("rate", "channels", "chunk_seconds"), [(16000, 1, 0.25), (44100, 2, 1.0), (44100, 2, 60.0)]
)
def test_chunks_join_to_the_whole_decode(
    tmp_path: Path, rate: int, channels: int, chunk_seconds: float
) -> None:
    signal = np.stack([tone(3.3, 48000, 440), tone(3.3, 48000, 660)])
    path = write_wav(tmp_path / "in.wav", signal, 48000)
    whole = decode_audio(path, rate, channels)
    pieces = list(decode_chunks(path, rate, channels, chunk_seconds))
    assert all(p.ndim == 2 and p.shape[0] == channels for p in pieces)
    # Every piece but the last holds at least chunk_seconds; none is empty.
    assert all(p.shape[1] >= round(chunk_seconds * rate) for p in pieces[:-1])
    assert all(p.shape[1] for p in pieces)
    joined = np.concatenate(pieces, axis=1)
    assert np.array_equal(joined[0] if channels == 1 else joined, whole)


def test_chunks_of_an_undecodable_file_raise_decode_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(DecodeError):
        list(decode_chunks(bad, 44100, 2))


@pytest.mark.parametrize("sizes", [[1], [999, 44_100], [441_000]])
def test_resampling_in_pieces_matches_resampling_the_whole(sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    audio = (0.3 * rng.standard_normal((2, 44_100 * 3 + 17))).astype(np.float32)
    if sizes == [1]:
        audio = audio[:, :5000]  # a frame per sample: kept short
    whole = resample_array(audio, 44_100, 16_000, 1)
    pieces, at, k = [], 0, 0
    while at < audio.shape[1]:
        pieces.append(audio[:, at : at + sizes[k % len(sizes)]])
        at, k = at + sizes[k % len(sizes)], k + 1
    # One resampler carries its state across the pieces' edges: the same samples.
    streamed = np.concatenate(list(resample_chunks(pieces, 44_100, 16_000, 1)), axis=1)[0]
    assert np.array_equal(streamed, whole)


def test_header_seconds_reads_the_header(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "in.wav", np.tile(tone(2.5, 22050), (2, 1)), 22050)
    assert header_seconds(path) == pytest.approx(2.5, abs=0.01)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    assert header_seconds(junk) is None
