"""Check that an upload is audio we can transcribe, and measure how long it really is.

Runs on the request path, before a job exists, so every refusal is a
``ValidationFailed`` (400) or ``TrackTooLong`` with a message the uploader can
act on. Three rules:

- The container FFmpeg detects must agree with the file's extension
  (``formats.ALLOWED_FORMATS``), so nothing passes as a type it is not.
- The duration is measured by decoding every packet of the audio stream and
  summing the decoded samples. Headers are written by whoever made the file and
  can claim anything (a FLAC STREAMINFO that says 1 s over ten minutes of audio),
  so they are never consulted. Decoding stops as soon as the limit is passed, so
  a huge upload costs at most ``max_seconds`` of decoding.
- Any decoder error is a refusal, not a warning: what the worker later decodes
  must be exactly what was measured and charged here, and the worker's decoder
  (``decode.decode_audio``) is just as strict.

Frames are decoded but not resampled or converted: counting samples needs
neither, and that keeps a ten-minute track to a fraction of a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import InputContainer

from textfromtrack.errors import TrackTooLong, ValidationFailed
from textfromtrack.media.formats import (
    allowed_list,
    check_extension,
    describe_format,
    extensions_for,
    format_agrees,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What probing found; ``duration_seconds`` is measured, not read from a header."""

    duration_seconds: float
    format_name: str
    codec: str
    sample_rate: int
    channels: int


def open_input(path: Path) -> InputContainer:
    """Open a media file for reading. Tag text in a foreign encoding must not fail
    the upload, so undecodable metadata bytes are replaced rather than raised."""
    return av.open(str(path), "r", metadata_errors="replace")


def audio_stream(container: InputContainer) -> AudioStream | None:
    """The stream we measure and transcribe: FFmpeg's pick of the best audio stream.

    Probe and decode both use this, so the stream that was charged is the one
    that is transcribed.
    """
    best = container.streams.best("audio")
    return best if isinstance(best, AudioStream) else None


def probe(path: Path, filename: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> AudioInfo:
    """Validate the stored upload at ``path``, named ``filename`` by the user.

    Raises ValidationFailed (empty, unreadable, wrong type for its extension, no
    audio, undecodable) or TrackTooLong (over ``max_seconds``; exactly
    ``max_seconds`` is allowed).
    """
    ext = check_extension(filename)
    if path.stat().st_size == 0:
        raise _invalid("The uploaded file is empty.", "file is empty")
    try:
        container = open_input(path)
    except av.FFmpegError as exc:
        log.info("probe: %s does not open as media: %s", path.name, exc)
        raise _invalid(
            f"The file could not be read as audio; it does not look like a {ext} file.",
            "not a readable audio file",
        ) from exc
    with container:
        format_name = container.format.name
        if not format_agrees(ext, format_name):
            raise _mismatch(ext, format_name)
        stream = audio_stream(container)
        if stream is None and container.streams.audio:
            # FFmpeg found an audio stream but could not read its parameters.
            raise _invalid(
                "The file's audio could not be read; "
                "it looks corrupt or uses an unsupported codec.",
                "audio could not be read",
            )
        if stream is None:
            raise _invalid("The file contains no audio stream.", "no audio stream")
        return _measure(container, stream, format_name, max_seconds)


def _measure(
    container: InputContainer, stream: AudioStream, format_name: str, max_seconds: float
) -> AudioInfo:
    counter = _SampleClock()
    sample_rate = channels = 0
    try:
        for frame in container.decode(stream):
            if frame.samples <= 0 or frame.sample_rate <= 0:
                continue
            if sample_rate == 0:
                sample_rate, channels = frame.sample_rate, frame.layout.nb_channels
            counter.add(frame.samples, frame.sample_rate)
            if counter.seconds > max_seconds:
                raise TrackTooLong(
                    f"Audio is longer than the {_minutes(max_seconds)} limit.",
                    details={
                        "max_seconds": _plain_number(max_seconds),
                        "duration_seconds_at_least": round(counter.seconds, 3),
                    },
                )
    except av.FFmpegError as exc:
        log.info("probe: decoding failed after %.3f s: %s", counter.seconds, exc)
        raise _invalid(
            f"The audio could not be decoded after {counter.seconds:.1f} s; "
            "the file looks truncated or corrupt.",
            "audio could not be decoded",
        ) from exc
    if counter.seconds <= 0:
        raise _invalid("The file contains no decodable audio.", "no decodable audio")
    return AudioInfo(
        duration_seconds=counter.seconds,
        format_name=format_name,
        codec=stream.codec_context.codec.canonical_name,
        sample_rate=sample_rate,
        channels=channels,
    )


class _SampleClock:
    """Decoded duration, exact while the rate is constant (600 s reads as 600.0).

    Summing per-frame float seconds would drift; counting samples and dividing
    once keeps the limit's boundary exact. A rate change (rare; concatenated
    streams) closes the current run.
    """

    __slots__ = ("_done", "_rate", "_samples")

    def __init__(self) -> None:
        self._done = 0.0
        self._rate = 0
        self._samples = 0

    def add(self, samples: int, rate: int) -> None:
        if rate != self._rate:
            self._done = self.seconds
            self._rate, self._samples = rate, 0
        self._samples += samples

    @property
    def seconds(self) -> float:
        return self._done + (self._samples / self._rate if self._rate else 0.0)


def _invalid(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {"file": field}})


def _mismatch(ext: str, format_name: str) -> ValidationFailed:
    found = describe_format(format_name)
    fits = extensions_for(format_name)
    advice = (
        f"rename it to {' or '.join(fits[:2])}"
        if fits
        else f"convert it to one of {allowed_list()}"
    )
    return _invalid(
        f"The file is named {ext} but contains {found} data; {advice}.",
        f"content is {found}, not {ext}",
    )


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _minutes(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes}-minute"
    return f"{_plain_number(seconds)}-second"
