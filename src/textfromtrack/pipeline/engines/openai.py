"""Speech recognition by an OpenAI-compatible server (``TFT_ENGINE=openai``).

``POST {TFT_OPENAI_BASE_URL}/audio/transcriptions`` (``/audio/translations`` for the
translate task) with the upload as it was stored, asking for ``verbose_json`` with
segment and word timestamps, and the answer mapped onto the same Transcript a local
engine returns. OpenAI takes at most 25 MB a file, so a larger one (or a container
OpenAI does not read) is re-encoded first to MP3 mono 16 kHz 128 kb/s, as the spec
says: ten minutes come to under 10 MB. A 429, a 5xx or a failed connection is retried
(``TFT_OPENAI_MAX_RETRIES``) after the server's Retry-After or a doubling backoff;
anything else, or the last failure, fails the attempt with the server's own message
(the job is then marked error and refunded by jobs/processing.py).

The pure parts (``needs_reencode``, ``retry_after_seconds``, ``backoff_seconds``,
``transcript_from_verbose_json``) carry the rules and are tested alone. The API key is
sent only in the Authorization header: never logged, never put in an error message.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
import wave
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from textfromtrack.config import mask_url
from textfromtrack.pipeline.engines.base import (
    SAMPLE_RATE,
    Audio,
    AudioInput,
    ProgressCallback,
    TranscribeOptions,
)
from textfromtrack.pipeline.languages import language_code
from textfromtrack.pipeline.types import EngineSegment, Transcript, Word

ENGINE_NAME = "openai"

log = logging.getLogger(__name__)

# OpenAI's limit for one file ("25 MB"; its API refuses more than 25 MiB).
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
# What OpenAI's transcription endpoint reads (its documented list); anything else we
# accept (AIFF, WMA, Opus/AAC under their own extensions) is re-encoded as MP3 first.
UPSTREAM_EXTENSIONS = frozenset(
    {".flac", ".m4a", ".mp3", ".mp4", ".mpeg", ".mpga", ".oga", ".ogg", ".wav", ".webm"}
)
_CONTENT_TYPES = {
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".mp4": "audio/mp4",
    ".mpeg": "audio/mpeg",
    ".mpga": "audio/mpeg",
    ".oga": "audio/ogg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".webm": "audio/webm",
}
# What OpenAI's own SDK retries: request timeout, lock conflict, rate limit, server errors.
RETRY_STATUSES = frozenset({408, 409, 429})
# Languages Whisper writes without spaces between words: their words are joined as-is.
_UNSPACED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "my", "km", "bo"})


class UpstreamError(RuntimeError):
    """The OpenAI-compatible server did not transcribe the file (its message, no secrets)."""


# --- the pure parts -------------------------------------------------------------------


def needs_reencode(size_bytes: int, extension: str) -> bool:
    """Whether a file is re-encoded to MP3 before it is sent: over OpenAI's 25 MB, or in
    a container its endpoint does not read. A file within both is sent byte for byte."""
    return size_bytes > MAX_UPLOAD_BYTES or extension.lower() not in UPSTREAM_EXTENSIONS


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a 429/503 asks for: ``retry-after-ms`` (OpenAI's), else ``Retry-After`` in
    seconds or as an HTTP-date. None when absent or unreadable; a past date is 0."""
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, value) if math.isfinite(value) else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is read as such
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(
    retry: int,
    retry_after: float | None,
    base: float,
    max_wait: float,
    jitter: float = 0.0,
) -> float | None:
    """How long to wait before retry number ``retry`` (0 for the first), or None to stop.

    The server's Retry-After is honoured as given; one longer than ``max_wait`` means
    waiting is pointless for this attempt (None). Without one: ``base`` doubling per
    retry, capped at ``max_wait``, less up to a quarter of ``jitter`` (0..1, random in
    use) so workers that were refused together do not all come back at once.
    """
    if retry_after is not None:
        return retry_after if retry_after <= max_wait else None
    delay = min(max_wait, base * (2.0**retry))
    return delay * (1.0 - 0.25 * min(max(jitter, 0.0), 1.0))


def _number(value: Any) -> float | None:
    """A finite float, else None (missing, null, text or NaN: the server did not say)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _time(value: Any, duration: float) -> float:
    number = _number(value)
    return min(max(0.0, number or 0.0), duration) if duration > 0 else max(0.0, number or 0.0)


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _spell_words(
    raw: Sequence[dict[str, Any]], segment_text: str, spaced: bool, duration: float
) -> tuple[Word, ...]:
    """One segment's words, as Whisper writes them locally (" word", punctuation kept).

    OpenAI's words drop the punctuation its segment text has ("country" vs "country.");
    lines are rebuilt from words and break at sentence ends, so when the segment's
    whitespace-separated tokens pair up with the words letter for letter, the tokens'
    spelling is used. Probabilities are unknown (None): verbose_json has none.
    """
    texts = [str(w.get("word", "")).strip() for w in raw]
    tokens = segment_text.split()
    if (
        spaced
        and len(tokens) == len(texts)
        and all(_letters(t) == _letters(w) for t, w in zip(tokens, texts, strict=True))
    ):
        texts = tokens
    words: list[Word] = []
    for item, text in zip(raw, texts, strict=True):
        if not text:
            continue
        start = _time(item.get("start"), duration)
        end = max(start, _time(item.get("end"), duration))
        words.append(Word(start, end, f" {text}" if spaced else text, None))
    return tuple(words)


def transcript_from_verbose_json(
    body: Mapping[str, Any],
    *,
    model: str,
    duration: float | None = None,
    language: str | None = None,
) -> Transcript:
    """OpenAI's verbose_json as a Transcript.

    ``language`` is OpenAI's name for it ("english") or a code; ``language`` here is the
    one asked for, used when the answer names none. ``duration`` is ours (measured by
    decoding); the answer's is the fallback. Segment statistics the answer leaves out
    stay None (unknown), never a made-up certainty. ``words`` (top-level in
    verbose_json) go to the segment they start in; words with no segments at all make
    one segment of the whole text.
    """
    answered = _number(body.get("duration"))
    total = duration if duration is not None else (answered or 0.0)
    code = language_code(str(body.get("language") or "")) or language or "und"
    spaced = code not in _UNSPACED_LANGUAGES
    raw_segments = [s for s in body.get("segments") or () if isinstance(s, dict)]
    raw_words = [w for w in body.get("words") or () if isinstance(w, dict)]
    raw_words.sort(key=lambda w: _number(w.get("start")) or 0.0)
    segments: list[EngineSegment] = []
    if raw_segments:
        raw_segments.sort(key=lambda s: _number(s.get("start")) or 0.0)
        starts = [_time(s.get("start"), total) for s in raw_segments]
        # Each word goes to the last segment starting at or before it (the first one
        # for words before every segment), so words keep their order and none is lost.
        owned: list[list[dict[str, Any]]] = [[] for _ in raw_segments]
        at = 0
        for word in raw_words:
            start = _time(word.get("start"), total)
            while at + 1 < len(starts) and starts[at + 1] <= start:
                at += 1
            owned[at].append(word)
        for raw, start, mine in zip(raw_segments, starts, owned, strict=True):
            text = str(raw.get("text") or "")
            segments.append(
                EngineSegment(
                    start=start,
                    end=max(start, _time(raw.get("end"), total)),
                    text=text,
                    words=_spell_words(mine, text, spaced, total),
                    avg_logprob=_number(raw.get("avg_logprob")),
                    no_speech_prob=_number(raw.get("no_speech_prob")),
                    compression_ratio=_number(raw.get("compression_ratio")),
                )
            )
    elif raw_words or str(body.get("text") or "").strip():
        text = str(body.get("text") or "")
        spelt = _spell_words(raw_words, text, spaced, total)
        segments.append(
            EngineSegment(
                start=spelt[0].start if spelt else 0.0,
                end=spelt[-1].end if spelt else total,
                text=text,
                words=spelt,
                avg_logprob=None,
                no_speech_prob=None,
                compression_ratio=None,
            )
        )
    return Transcript(
        language=code,
        # verbose_json reports no language probability: 0 says "not measured", and
        # nothing downstream reads it as confidence.
        language_probability=0.0,
        duration_seconds=total,
        segments=tuple(segments),
        model=str(body.get("model") or model),
        engine=ENGINE_NAME,
    )


def upstream_message(response: httpx.Response) -> str:
    """What the server said went wrong: OpenAI's ``error.message``, our envelope's, or the
    start of its body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        if body.get("detail"):
            return str(body["detail"])
    text = " ".join(response.text.split())
    return text[:200] or response.reason_phrase or "no message"


# --- the engine -----------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAIConfig:
    """The TFT_OPENAI_* settings this engine needs (kept apart so tests can build one)."""

    base_url: str
    api_key: str | None
    model: str
    max_retries: int = 2
    retry_base_seconds: float = 1.0
    retry_max_wait_seconds: float = 60.0
    timeout_seconds: float = 600.0
    connect_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class _Upload:
    path: Path
    filename: str
    content_type: str


class OpenAIEngine:
    """The Engine Protocol over an OpenAI-compatible ``/audio/transcriptions``."""

    name: str = ENGINE_NAME

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        # The job says the model its answer names; until then, the one asked for.
        self.model_name = config.model

    def transcribe(
        self,
        audio: AudioInput | Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        source = AudioInput.of(audio)
        with self._upload(source) as upload:
            body = self._post(upload, options, progress)
        # Our own measure of the audio when the pipeline decoded it (it did, for the
        # voice measure); otherwise the server's, rather than decoding just for this.
        duration = source.duration_seconds if source.decoded else None
        transcript = transcript_from_verbose_json(
            body, model=self.config.model, duration=duration, language=options.language
        )
        if progress is not None:
            progress(1.0)
        return transcript

    @contextmanager
    def _upload(self, source: AudioInput) -> Iterator[_Upload]:
        """The file to send: the upload itself, or an MP3 (or WAV, for samples with no
        file) in a temporary folder that goes when the call is over."""
        path = source.path
        if path is not None and not needs_reencode(path.stat().st_size, path.suffix):
            suffix = path.suffix.lower()
            # A neutral name: the stored one says nothing, the user's is theirs to keep.
            yield _Upload(path, f"audio{suffix}", _CONTENT_TYPES[suffix])
            return
        with tempfile.TemporaryDirectory(prefix="tft-openai-") as folder:
            if path is not None:
                # Imported here: PyAV's encoder only when a file needs it.
                from textfromtrack.media.decode import transcode_mp3

                started = time.perf_counter()
                mp3 = transcode_mp3(path, Path(folder) / "audio.mp3")
                if mp3.stat().st_size > MAX_UPLOAD_BYTES:  # past 26 minutes, never ours
                    raise self._error("the re-encoded MP3 is still over 25 MB")
                log.info(
                    "re-encoded %.1f MB as MP3 (%.1f MB) for the OpenAI-compatible API in %.1f s",
                    path.stat().st_size / 1e6,
                    mp3.stat().st_size / 1e6,
                    time.perf_counter() - started,
                )
                yield _Upload(mp3, "audio.mp3", "audio/mpeg")
            else:
                # Ten minutes of 16 kHz 16-bit mono are 19 MB: always under the limit.
                yield _Upload(
                    _write_wav(source.samples, Path(folder) / "audio.wav"),
                    "audio.wav",
                    "audio/wav",
                )

    def _form(self, options: TranscribeOptions) -> list[tuple[str, str]]:
        form = [("model", self.config.model), ("response_format", "verbose_json")]
        if options.task != "translate":
            # Translations take neither: they always write English, in segments.
            if options.language:
                form.append(("language", options.language))
            form.append(("timestamp_granularities[]", "segment"))
            if options.word_timestamps:
                form.append(("timestamp_granularities[]", "word"))
        if options.initial_prompt:
            form.append(("prompt", options.initial_prompt))
        if options.temperature:
            # OpenAI's temperature is where its own fallback starts, as ours is.
            form.append(("temperature", f"{options.temperature[0]:g}"))
        return form

    def _post(
        self, upload: _Upload, options: TranscribeOptions, progress: ProgressCallback | None
    ) -> dict[str, Any]:
        cfg = self.config
        endpoint = "translations" if options.task == "translate" else "transcriptions"
        url = f"{cfg.base_url.rstrip('/')}/audio/{endpoint}"
        shown = mask_url(url)
        headers = {"Accept": "application/json"}
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        timeout = httpx.Timeout(cfg.timeout_seconds, connect=cfg.connect_timeout_seconds)
        form = self._form(options)
        calls = cfg.max_retries + 1
        with httpx.Client(timeout=timeout) as client:
            for call in range(calls):
                if progress is not None:
                    progress(0.0)  # lets a cancelled job stop before paying for another call
                retry_after: float | None = None
                try:
                    with upload.path.open("rb") as fh:
                        response = client.post(
                            url,
                            headers=headers,
                            data=_grouped(form),
                            files={"file": (upload.filename, fh, upload.content_type)},
                        )
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                    # The request never reached the server: retrying cannot charge twice.
                    problem = f"could not connect to {shown} ({type(exc).__name__})"
                except httpx.TimeoutException as exc:
                    raise self._error(
                        f"{shown} did not answer within {cfg.timeout_seconds:g} s "
                        f"({type(exc).__name__})"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise self._error(f"calling {shown} failed ({type(exc).__name__})") from exc
                else:
                    if response.is_success:
                        return self._parse(response, shown)
                    problem = (
                        f"{shown} answered {response.status_code}: {upstream_message(response)}"
                    )
                    retryable = response.status_code in RETRY_STATUSES or (
                        response.status_code >= 500
                    )
                    # The server's own word wins: ours (another TextFromTrack) says false
                    # on a 5xx whose job already ran, where a retry would pay again.
                    should = response.headers.get("x-should-retry", "").strip().lower()
                    if should == "false" or not (retryable or should == "true"):
                        raise self._error(problem)
                    retry_after = retry_after_seconds(response.headers)
                if call + 1 >= calls:
                    raise self._error(f"{problem}; gave up after {calls} tries")
                delay = backoff_seconds(
                    call,
                    retry_after,
                    cfg.retry_base_seconds,
                    cfg.retry_max_wait_seconds,
                    random.random(),  # noqa: S311 - spreading retries, not a secret
                )
                if delay is None:
                    raise self._error(
                        f"{problem}; it asks to retry in {retry_after:g} s, longer than "
                        f"TFT_OPENAI_RETRY_MAX_WAIT_SECONDS ({cfg.retry_max_wait_seconds:g} s)"
                    )
                shown_problem = self._scrub(problem)
                log.warning("%s; retrying in %.1f s (%d/%d)", shown_problem, delay, call + 1, calls)
                time.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _parse(self, response: httpx.Response, shown: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._error(f"{shown} answered {response.status_code} without verbose_json")
        return body

    def _scrub(self, message: str) -> str:
        """``message`` without the key, even if a server echoed it back."""
        key = self.config.api_key
        return message.replace(key, "********") if key else message

    def _error(self, message: str) -> UpstreamError:
        return UpstreamError(f"the OpenAI-compatible engine failed: {self._scrub(message)}")


def _grouped(form: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """httpx's ``data``: a repeated field (``timestamp_granularities[]``) as a list."""
    out: dict[str, str | list[str]] = {}
    for key, value in form:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def _write_wav(samples: Audio, dest: Path) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return dest
