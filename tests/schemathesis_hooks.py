"""Schemathesis hooks for tests/test_schemathesis.py, loaded by `st` via SCHEMATHESIS_HOOKS.

- ``error_envelope``: every non-2xx answer is the one envelope, with a catalogue code
  that fits its status (the schema says "ErrorEnvelope"; this also covers the
  responses no operation declares, such as a 405 for a method the path lacks).
- Half the schema-valid requests about one job name a real one (see JOB_IDS).
- Schema-valid uploads carry real audio: a schema can say "binary" but not "a WAV
  whose extension matches", so without this every positive upload would be a 400
  and the accepted path (201, then the job's own routes) would go untested.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
import wave
from typing import Any

import schemathesis
from schemathesis import (
    Case,
    CheckContext,
    GenerationMode,
    HookContext,
    Response,
    SerializationContext,
)

# The only internals used: the default multipart encoder, wrapped to name the audio part.
from schemathesis.transport.requests import REQUESTS_TRANSPORT, multipart_serializer
from schemathesis.transport.serialization import Binary

from textfromtrack.accounts.service import normalise_email
from textfromtrack.errors import ValidationFailed
from textfromtrack.openapi import CATALOGUE_CODES, CODES_BY_STATUS
from textfromtrack.pipeline.alignment import check_lyrics

UPLOAD = ("POST", "/api/v1/transcriptions")
REGISTER = ("POST", "/api/auth/register")


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


WAV = _wav()
# Jobs the test created before the run (comma-separated ids).
JOB_IDS = [i for i in os.environ.get("TFT_ST_JOB_IDS", "").split(",") if i]
_job_turn = 0


def _problem(status: int, response: Response) -> str | None:
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return f"not JSON ({response.headers.get('content-type', ['?'])[0]})"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not {{'error': {{...}}}}: {str(body)[:120]}"
    error = body["error"]
    if set(error) != {"code", "message", "details"}:
        return f"error has keys {sorted(error)}, not code, message, details"
    if not isinstance(error["message"], str) or not isinstance(error["details"], dict):
        return "message must be a string and details an object"
    code = error["code"]
    if code not in CATALOGUE_CODES:
        return f"code {code!r} is not in the catalogue"
    expected = CODES_BY_STATUS.get(status)
    if expected is None:
        return f"status {status} is not one the catalogue uses"
    if code not in expected:
        return f"code {code!r} does not go with {status} (expected {', '.join(expected)})"
    return None


@schemathesis.check
def error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    status = response.status_code
    if status < 400:
        return None
    problem = _problem(status, response)
    if problem is not None:
        raise AssertionError(f"Error response outside the envelope: [{status}] {problem}")
    return None


def _positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.hook
def before_call(context: HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    """Keep schema-valid requests valid where the rule is one a schema cannot state."""
    operation = context.operation
    if operation is None or not _positive(case):
        return
    key = (operation.method.upper(), operation.path)
    if "{job_id}" in operation.path and JOB_IDS and isinstance(case.path_parameters, dict):
        # Random uuids only ever reach the 404; every other positive case asks about a
        # real (pending) job, so the 200 and 409 answers are held to the schema too.
        global _job_turn
        _job_turn += 1
        if _job_turn % 2:
            case.path_parameters["job_id"] = JOB_IDS[_job_turn // 2 % len(JOB_IDS)]
    if key == UPLOAD and isinstance(case.body, dict):
        if "file" in case.body:
            case.body["file"] = Binary(WAV)
        if case.body.get("pinyin") is True and case.body.get("vintage") is True:
            case.body["vintage"] = False  # documented as a 400 in both fields
        lyrics = case.body.get("lyrics")
        if isinstance(lyrics, str) and check_lyrics(lyrics) is not None:
            # Whitespace only or control characters: documented as a 400 in the field.
            case.body["lyrics"] = "la la la\nlo lo"
    elif key == REGISTER and isinstance(case.body, dict) and "email" in case.body:
        # A taken address is a 400 on purpose (no account enumeration), and so is one at a
        # special-use domain (.arpa, .local...) that the e-mail format allows.
        try:
            address = normalise_email(str(case.body["email"]))
        except ValidationFailed:
            address = ""
        if not address or address in _registered:
            address = f"st-{uuid.uuid4().hex[:16]}@example.com"
            case.body["email"] = address
        _registered.add(address)


# The test's own accounts are taken too: the stateful phase copies their addresses
# from /api/auth/me responses into register bodies.
_registered: set[str] = {e for e in os.environ.get("TFT_ST_EMAILS", "").split(",") if e}


@schemathesis.hook
def after_call(context: HookContext, case: Case, response: Response) -> None:
    # Negative cases can register too (with an invalid extra elsewhere); remember those.
    operation = context.operation
    if (
        operation is not None
        and (operation.method.upper(), operation.path) == REGISTER
        and response.status_code == 201
    ):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            _registered.add(str(json.loads(response.content)["email"]))


@REQUESTS_TRANSPORT.serializer("multipart/form-data")
def _multipart_with_audio_name(ctx: SerializationContext, value: Any) -> dict[str, Any]:
    """Schemathesis names a file part after what it sniffs (png, pdf...), not audio:
    give the WAV a name with the extension the server checks."""
    kwargs: dict[str, Any] = multipart_serializer(ctx, value)
    files = kwargs.get("files")
    if isinstance(files, list):
        kwargs["files"] = [
            (name, ("track.wav", *part[1:]))
            if isinstance(part, tuple) and len(part) >= 2 and getattr(part[1], "data", None) == WAV
            else (name, part)
            for name, part in files
        ]
    return kwargs
