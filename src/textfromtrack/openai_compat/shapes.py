"""Pure functions: OpenAI's response bodies from stored segments, and its error shape.

What OpenAI documents for whisper-1: ``json`` is ``{"text"}``; ``verbose_json`` adds
``task``, ``language`` (a name: "english"), ``duration``, ``segments`` (id, seek,
start, end, text, tokens, temperature, avg_logprob, compression_ratio,
no_speech_prob) and, with the word granularity, ``words`` (word, start, end);
``text``, ``srt`` and ``vtt`` are plain text.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

from textfromtrack.exports import formats
from textfromtrack.pipeline.languages import language_name
from textfromtrack.pipeline.types import Segment

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
GRANULARITIES = ("segment", "word")


def text_of(segments: Sequence[Segment]) -> str:
    return " ".join(" ".join(s.text.split()) for s in segments if s.text.strip())


def _avg_logprob(segment: Segment) -> float:
    probs = [w.probability for w in segment.words if w.probability and w.probability > 0]
    return round(sum(math.log(p) for p in probs) / len(probs), 4) if probs else 0.0


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return round(len(data) / len(zlib.compress(data)), 4) if data else 0.0


def verbose_json(
    segments: Sequence[Segment],
    *,
    task: str,
    language: str | None,
    duration: float,
    granularities: Sequence[str],
) -> dict[str, Any]:
    """OpenAI's verbose_json. The statistics are computed from what was stored (the
    words' probabilities, the line's own text); ``tokens`` are not kept, so empty."""
    body: dict[str, Any] = {
        "task": task,
        "language": language_name(language),
        "duration": round(duration, 3),
        "text": text_of(segments),
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [
            {
                "id": n,
                "seek": 0,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": " " + " ".join(s.text.split()),
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": _avg_logprob(s),
                "compression_ratio": _compression_ratio(s.text),
                "no_speech_prob": 0.0,
            }
            for n, s in enumerate(segments)
        ]
    if "word" in granularities:
        body["words"] = [
            {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
            for s in segments
            for w in s.words
            if w.text.strip()
        ]
    return body


def plain(fmt: str, segments: Sequence[Segment], meta: formats.ExportMeta) -> str:
    """``text``, ``srt`` or ``vtt``: the same renderers as the exports."""
    if fmt == "text":
        return text_of(segments) + "\n"
    return formats.render(fmt, segments, meta)


# The spec's envelope code -> OpenAI's (type, code), by our status.
_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("invalid_request_error", "timeout"),
    409: ("invalid_request_error", "conflict"),
    410: ("invalid_request_error", "gone"),
    413: ("invalid_request_error", "file_too_large"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error(
    status: int, envelope: dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) in OpenAI's error shape for one of our envelopes.

    Out of credits is 429 ``insufficient_quota`` (what OpenAI answers, so SDKs raise
    RateLimitError) with ``x-should-retry: false``: waiting does not add credits. So is
    every 5xx, because an SDK that retried a failed transcription would pay again.
    """
    error = envelope.get("error", {}) if isinstance(envelope, dict) else {}
    code = str(error.get("code", "internal_error"))
    message = str(error.get("message", "The request failed."))
    details = error.get("details") or {}
    fields = details.get("fields") if isinstance(details, dict) else None
    param = next(iter(fields), None) if isinstance(fields, dict) and fields else None
    headers: dict[str, str] = {}
    if code == "insufficient_credits":
        status, kind, oa_code = 429, "insufficient_quota", "insufficient_quota"
        headers["x-should-retry"] = "false"
    elif status >= 500:
        kind, oa_code = "server_error", code
        headers["x-should-retry"] = "false"
    else:
        kind, default = _KINDS.get(status, ("invalid_request_error", None))
        # Our generic code says little to an OpenAI client; the status's own code more.
        oa_code = default if code == "validation_error" and default else code
    if isinstance(details, dict) and details.get("param"):
        param = str(details["param"])
        if status == 404 and param == "model":
            oa_code = "model_not_found"  # what OpenAI answers for an unknown model
    body = {"error": {"message": message, "type": kind, "param": param, "code": oa_code}}
    return status, body, headers
