"""Decode an upload to the float PCM the engines take, and re-encode it for the cloud.

Both run in the worker, on files ``probe`` already accepted. They read the
same audio stream as ``probe`` (``probe.audio_stream``) and are just as strict
about decoder errors, so what is transcribed is what was measured and charged.
Failures raise ``DecodeError`` with a short message fit for the job's error
text: FFmpeg's own messages name the server's file paths.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame

from textfromtrack.media.probe import audio_stream, open_input
from textfromtrack.media.storage import remove_quietly

_LAYOUTS = {1: "mono", 2: "stereo"}

# What the OpenAI-compatible engine is sent for files over its 25 MB limit
# (DESIGN "A job, end to end", step 3): ten minutes comes to under 10 MB.
MP3_BITRATE = 128_000
MP3_SAMPLE_RATE = 16_000


class DecodeError(ValueError):
    """The audio could not be decoded or re-encoded."""


def decode_audio(
    path: Path, sample_rate: int = 16_000, channels: int = 1
) -> npt.NDArray[np.float32]:
    """The file's audio as float32 samples at ``sample_rate`` (full scale is 1.0).

    Shape ``(n,)`` for mono, ``(channels, n)`` otherwise. A stereo source is
    downmixed as FFmpeg's ``-ac 1`` does it (and so Whisper's own loader), which
    can peak a little above 1.0 on loud masters; it is not clipped.
    """
    return join_pieces(decode_chunks(path, sample_rate, channels), channels)


def decode_chunks(
    path: Path, sample_rate: int = 16_000, channels: int = 1, chunk_seconds: float = 10.0
) -> Generator[npt.NDArray[np.float32], None, None]:
    """``decode_audio``'s samples as ``(channels, n)`` pieces of about ``chunk_seconds``,
    decoded as they are asked for: what a stage that streams (separation) reads, so a
    long file is never held whole at 44.1 kHz stereo."""
    layout = _layout(channels)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    try:
        with open_input(path) as container:
            stream = audio_stream(container)
            if stream is None:
                raise DecodeError("the file contains no audio stream")
            # fltp frames come out as (channels, samples) float32 arrays.
            yield from _grouped(
                (
                    f.to_ndarray().astype(np.float32, copy=False)
                    for f in _resampled(container.decode(stream), layout, sample_rate)
                ),
                max(1, round(chunk_seconds * sample_rate)),
            )
    except av.FFmpegError as exc:
        raise DecodeError("the audio could not be decoded (truncated or corrupt file)") from exc


def header_seconds(path: Path) -> float | None:
    """The audio's duration as the file's header states it (no decoding), if it does:
    for progress while a stage streams, never for what is charged (``probe`` measures)."""
    try:
        with open_input(path) as container:
            stream = audio_stream(container)
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return container.duration / 1_000_000 if container.duration else None
    except av.FFmpegError:
        return None


def resample_array(
    audio: npt.NDArray[np.float32], rate: int, to_rate: int = 16_000, to_channels: int = 1
) -> npt.NDArray[np.float32]:
    """Resample in-memory float audio (``(n,)`` mono or ``(channels, n)``) with FFmpeg's resampler.

    Used on separated stems, which exist only as arrays; same output shapes as decode_audio.
    """
    planar = np.ascontiguousarray(audio[None, :] if audio.ndim == 1 else audio, dtype=np.float32)
    step = rate * 10  # ten seconds a frame keeps FFmpeg's buffers small
    pieces = (planar[:, start : start + step] for start in range(0, planar.shape[1], step))
    return join_pieces(resample_chunks(pieces, rate, to_rate, to_channels), to_channels)


def resample_chunks(
    chunks: Iterable[npt.NDArray[np.float32]],
    rate: int,
    to_rate: int = 16_000,
    to_channels: int = 1,
) -> Iterator[npt.NDArray[np.float32]]:
    """``resample_array`` over a stream of ``(channels, n)`` pieces, one resampler for all
    of them (so the pieces' edges leave no mark), yielding ``(to_channels, n)`` pieces."""
    _layout(to_channels)

    def frames() -> Iterator[AudioFrame]:
        at = 0
        for chunk in chunks:
            planar = np.ascontiguousarray(chunk, dtype=np.float32)
            if planar.ndim != 2 or planar.shape[0] not in _LAYOUTS:
                raise ValueError(f"expected 1 or 2 channels, got shape {chunk.shape}")
            if not planar.shape[1]:
                continue
            frame = AudioFrame.from_ndarray(planar, format="fltp", layout=_LAYOUTS[planar.shape[0]])
            frame.sample_rate = rate
            frame.pts = at
            frame.time_base = Fraction(1, rate)
            at += planar.shape[1]
            yield frame

    for f in _resampled(frames(), _layout(to_channels), to_rate):
        yield f.to_ndarray().astype(np.float32, copy=False)


def _grouped(
    pieces: Iterable[npt.NDArray[np.float32]], size: int
) -> Iterator[npt.NDArray[np.float32]]:
    """Pieces joined into arrays of at least ``size`` samples (the last one: what is left)."""
    group: list[npt.NDArray[np.float32]] = []
    held = 0
    for piece in pieces:
        group.append(piece)
        held += piece.shape[1]
        if held >= size:
            yield np.concatenate(group, axis=1)
            group, held = [], 0
    if group:
        yield np.concatenate(group, axis=1)


def join_pieces(
    pieces: Iterable[npt.NDArray[np.float32]], channels: int
) -> npt.NDArray[np.float32]:
    """``(channels, n)`` pieces (decode_chunks', resample_chunks') as one array, shaped as
    decode_audio's: ``(n,)`` for mono, ``(channels, n)`` otherwise."""
    parts = list(pieces)
    audio = np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), dtype=np.float32)
    return np.ascontiguousarray(audio[0]) if channels == 1 else audio


def transcode_mp3(
    src: Path, dest: Path, bitrate: int = MP3_BITRATE, sample_rate: int = MP3_SAMPLE_RATE
) -> Path:
    """Re-encode ``src`` as mono MP3 at ``dest``; a partial ``dest`` never survives a failure."""
    try:
        with open_input(src) as source, av.open(str(dest), "w", format="mp3") as out:
            stream = audio_stream(source)
            if stream is None:
                raise DecodeError("the file contains no audio stream")
            encoder = out.add_stream("libmp3lame", rate=sample_rate, layout="mono")
            encoder.bit_rate = bitrate
            # fltp is one of LAME's native input formats; PyAV's encoder then only
            # re-blocks our frames into LAME's 1152-sample frames.
            written = 0
            for frame in _resampled(source.decode(stream), "mono", sample_rate):
                # The output is one gap-free stream: number its samples afresh so
                # a source with holes or resets in its timestamps still muxes.
                frame.pts = written
                frame.time_base = Fraction(1, sample_rate)
                written += frame.samples
                out.mux(encoder.encode(frame))
            out.mux(encoder.encode(None))
    except av.FFmpegError as exc:
        remove_quietly(dest)
        raise DecodeError("the audio could not be re-encoded as MP3") from exc
    except BaseException:
        remove_quietly(dest)
        raise
    return dest


def _resampled(frames: Iterator[AudioFrame], layout: str, rate: int) -> Iterator[AudioFrame]:
    """Planar float frames at ``rate``/``layout``, the resampler flushed at the end.

    PyAV's resampler is set up from the first frame. A later frame with another
    format or layout is rejected; worse, when the first frame already matched
    the target it passes every later frame through untouched, whatever its rate
    (a 16 kHz + 22.05 kHz spliced MP3 decoded 0.8 s long). Streams spliced from
    different sources do change mid-way, so a change flushes the current
    resampler and starts a new one.
    """
    resampler: av.AudioResampler | None = None
    source: tuple[str, str, int] | None = None
    for frame in frames:
        if frame.samples <= 0:
            continue
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if resampler is None or key != source:
            if resampler is not None:
                yield from resampler.resample(None)
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            source = key
        yield from resampler.resample(frame)
    if resampler is not None:
        yield from resampler.resample(None)


def _layout(channels: int) -> str:
    try:
        return _LAYOUTS[channels]
    except KeyError:
        raise ValueError(f"channels must be 1 or 2, got {channels}") from None
