"""The public OpenAPI document at /openapi.json, made to say what the server really does.

FastAPI's own document was wrong about errors: every operation declared a 422
``{"detail": [...]}`` that is never sent (request validation answers 400 in the
envelope), none of the catalogue's responses were there, the operation ids were
derived from handler names, and the web app's internal ``/api/web/*`` routes were
published beside v1. This module rewrites FastAPI's document once, by
(method, path), so that renaming a handler or restructuring a router cannot change
the public contract:

- one ``ErrorEnvelope`` component, and on each operation exactly the catalogue
  responses that its handler and dependencies can raise;
- fixed operation ids and the spec's examples;
- the upload's multipart body, declared here because the upload routes read the
  stream themselves rather than through FastAPI's File/Form parameters;
- uuid formats and enums on parameters; ``/api/web/*`` left out.

``tests/test_openapi.py`` checks the table against the routes and the catalogue,
``tests/test_schemathesis.py`` checks the result against a running server.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from textfromtrack.config import Settings
from textfromtrack.exports import formats
from textfromtrack.pipeline import alignment, chinese
from textfromtrack.pipeline.languages import WHISPER_LANGUAGES
from textfromtrack.timestamps import EXAMPLE as TIMESTAMP_EXAMPLE

Json = dict[str, Any]

# The spec's error catalogue, in its order. A code outside it is a bug (see the tests).
CATALOGUE_CODES: Final = (
    "validation_error",
    "track_too_long",
    "unauthorized",
    "insufficient_credits",
    "forbidden",
    "not_found",
    "gone",
    "rate_limited",
    "internal_error",
)

# The codes each status may carry, for the examples and for the tests that hold
# responses to them. 408, 413 and 409 are validation_error in the catalogue.
CODES_BY_STATUS: Final[Mapping[int, tuple[str, ...]]] = {
    400: ("validation_error", "track_too_long"),
    401: ("unauthorized",),
    402: ("insufficient_credits",),
    403: ("forbidden",),
    404: ("not_found",),
    405: ("validation_error",),
    408: ("validation_error",),
    409: ("validation_error",),
    410: ("gone",),
    413: ("validation_error",),
    429: ("rate_limited",),
    500: ("internal_error",),
    503: ("internal_error",),
    # Only on the OpenAI-compatible surface (/v1/audio/*, outside this document): the
    # server-side wait for a job ran out; the job goes on.
    504: ("internal_error",),
}

HIDDEN_PREFIXES: Final = ("/api/web",)
ENVELOPE_REF: Final = "#/components/schemas/ErrorEnvelope"
# Not token_id: revoking is idempotent and silent, so any string answers 204 and a
# uuid format would promise a refusal the server does not make.
UUID_PARAMETERS: Final = frozenset({"job_id"})

ERROR_ENVELOPE: Final[Json] = {
    "title": "ErrorEnvelope",
    "description": "Every non-2xx response, whatever raised it.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": list(CATALOGUE_CODES)},
                "message": {"type": "string", "description": "For people; may change."},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Machine-readable specifics, e.g. `fields` for a "
                    "validation_error, `top_up_url` for insufficient_credits.",
                },
            },
        }
    },
    "example": {
        "error": {
            "code": "insufficient_credits",
            "message": "Your account has 0 credits. This job needs 1.",
            "details": {
                "required": 1,
                "available": 0,
                "top_up_url": "https://app.textfromtrack.com/",
            },
        }
    },
}


# ---------------------------------------------------------------- the errors


@dataclass(frozen=True)
class Error:
    """One declared error response: when it happens and an example envelope."""

    description: str
    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


def _merge(*groups: Mapping[int, Error]) -> dict[int, Error]:
    merged: dict[int, Error] = {}
    for group in groups:
        merged.update(group)
    return dict(sorted(merged.items()))


INTERNAL = {
    500: Error(
        "Unexpected server-side failure; quote details.request_id if you report it.",
        "internal_error",
        "An unexpected error occurred. Quote the request id if you report it.",
        {"request_id": "5f0c2a9e8b7d4c1a9e3f6b2d8a4c7e10"},
    )
}
PAT = {
    401: Error(
        "No personal access token, or one that is malformed, unknown, expired or revoked "
        "(a web session is not accepted here).",
        "unauthorized",
        "The access token is invalid, expired or revoked.",
    ),
    403: Error(
        "The token lacks the scope this operation needs, or the account is suspended.",
        "forbidden",
        "This token lacks the transcriptions:write scope.",
        {"required_scope": "transcriptions:write"},
    ),
}
WEB = {
    401: Error(
        "No live web session (a personal access token is not accepted here).",
        "unauthorized",
        "Sign in first: this endpoint needs a web session, not an API token.",
    ),
    403: Error(
        "The account is suspended, or a cookie-authenticated change came without the "
        "page's CSRF token or from another site.",
        "forbidden",
        "This account is suspended.",
    ),
}
CROSS_SITE = {
    403: Error(
        "A browser said the request comes from another site.",
        "forbidden",
        "Cross-site request refused: use this site's own pages.",
        {"reason": "cross_origin"},
    )
}


def _invalid(what: str, field_name: str, problem: str) -> dict[int, Error]:
    return {
        400: Error(
            f"Invalid {what}; `details.fields` names each offending field.",
            "validation_error",
            f"Invalid request: {field_name}.",
            {"fields": {field_name: problem}},
        )
    }


JSON_BODY = {
    413: Error(
        "The request body exceeds 1 MB.",
        "validation_error",
        "Request body exceeds 1048576 bytes.",
        {"max_bytes": 1048576},
    )
}
NOT_FOUND = {
    404: Error(
        "No such transcription, or it belongs to another user (deliberately the same answer).",
        "not_found",
        "No such transcription.",
    )
}
RESULTS = {
    409: Error(
        "The transcription is not done (pending, processing, error or cancelled): "
        "results exist only for done jobs.",
        "validation_error",
        "The transcription is processing; results exist only when it is done.",
        {"status": "processing"},
    ),
    410: Error(
        "The results were removed by the retention policy (after the retention period).",
        "gone",
        "This transcript was deleted by the retention policy.",
        {"purged_at": TIMESTAMP_EXAMPLE},
    ),
}
UPLOAD = {
    400: Error(
        "An invalid field or body, a file extension that is not allowed or does not match "
        "the audio (validation_error), or audio longer than 10 minutes (track_too_long).",
        "track_too_long",
        "Audio exceeds the 10-minute limit.",
        {"max_seconds": 600},
    ),
    402: Error(
        "The balance is below credits_quoted; send the user to details.top_up_url.",
        "insufficient_credits",
        "Your account has 0 credits. This job needs 1.",
        {"required": 1, "available": 0, "top_up_url": "https://app.textfromtrack.com/"},
    ),
    408: Error(
        "The upload was not received within the upload read deadline.",
        "validation_error",
        "The upload took too long; send the file again.",
    ),
    413: Error(
        "The upload exceeds 100 MB (refused before reading when Content-Length says so).",
        "validation_error",
        "Upload exceeds the 100 MB limit.",
        {"max_bytes": 104857600},
    ),
    429: Error(
        "Too many active jobs (2 per user, 3 per address) or too many uploads in flight; "
        "retry after Retry-After seconds.",
        "rate_limited",
        "You already have 2 active jobs; wait for one to finish.",
        {"limit": 2, "scope": "user"},
    ),
}
LOGIN = {
    401: Error(
        "Wrong e-mail or password.",
        "unauthorized",
        "Wrong e-mail or password.",
    ),
    403: Error(
        "The account is suspended, or a browser said the request comes from another site.",
        "forbidden",
        "This account is suspended.",
    ),
    429: Error(
        "Too many failed sign-in attempts; retry after Retry-After seconds.",
        "rate_limited",
        "Too many failed sign-in attempts. Try again later.",
    ),
}
NOT_READY = {
    503: Error(
        "The database does not answer, or its schema is not at the newest migration.",
        "internal_error",
        "Database migrations are not at head; run `tft migrate`.",
        {"migrations": "behind"},
    )
}


# ---------------------------------------------------------------- the operations


@dataclass(frozen=True)
class Operation:
    operation_id: str
    errors: Mapping[int, Error]
    summary: str | None = None
    example: Any = None  # of the success response
    request_body: Json | None = None
    # OpenAPI links from the success response: operation id -> {parameter: expression}.
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


_JOB_ID = "f0c7e2d4-1b3a-4c6e-9d2f-7a8b9c0d1e2f"
_JOB_DONE: Final[Json] = {
    "job_id": _JOB_ID,
    "status": "done",
    "filename": "track.mp3",
    "language": "en",
    "duration_seconds": 187.3,
    "segment_count": 42,
    "credits_charged": 1,
    "model": "whisper-base",
    "degraded": False,
    "vocal_separation_used": False,
    "attempts": 1,
    "runtime_seconds": 12.4,
    "created_at": "2026-05-08T10:00:00Z",
    "completed_at": "2026-05-08T10:00:13Z",
    "vintage_mode": False,
    "pinyin": False,
    "chinese_script": "simplified",
    "progress": 1.0,
    "error": None,
    "exports_expire_at": "2026-05-15T10:00:13Z",
    "stage": None,
    "revision": 0,
    "lyrics_anchored": None,
}
_ATTEMPT: Final[Json] = {
    "attempt": 1,
    "pipeline": "standard",
    "engine": "faster-whisper",
    "model": "whisper-base",
    "separator": None,
    "seconds": 12.1,
    "language": "en",
    "quality": {"poor": False},
    "verdict": "accepted",
}
EXAMPLES: Final[Mapping[str, Any]] = {
    "submit": {
        "job_id": _JOB_ID,
        "status": "pending",
        "credits_quoted": 1,
        "duration_seconds": 187.3,
        "vintage_mode": False,
    },
    "job": {**_JOB_DONE, "attempts_log": [_ATTEMPT]},
    "cancelled": {
        **_JOB_DONE,
        "status": "cancelled",
        "segment_count": None,
        "credits_charged": 0,
        "model": None,
        "attempts": 0,
        "runtime_seconds": None,
        "completed_at": None,
        "progress": 0.0,
        "exports_expire_at": None,
        "attempts_log": [],
    },
    "segments": {
        "job_id": _JOB_ID,
        "language": "fr",
        "duration_seconds": 187.3,
        "segments": [
            {"index": 0, "start": 0.0, "end": 4.2, "text": "Première ligne…"},
            {"index": 1, "start": 4.2, "end": 8.5, "text": "Deuxième ligne…"},
        ],
    },
    "list": {"page": 1, "per_page": 50, "total": 173, "transcriptions": [_JOB_DONE]},
    "me": {
        "user_id": "3d1f9a52-6c0e-4b7a-8f21-5e9c4d7b2a10",
        "email": "you@example.com",
        "credit_balance": 47,
        "top_up_url": "https://app.textfromtrack.com/",
        "scopes_granted": ["transcriptions:read", "transcriptions:write"],
    },
}


def upload_body(*, keep_audio: bool) -> Json:
    """The multipart body of an upload route (its handler parses the stream itself)."""
    properties: Json = {
        "file": {
            "type": "string",
            "format": "binary",
            "description": ".mp3, .wav, .flac (and other common audio) · max 100 MB · "
            "max 10 min. The extension must match the audio.",
        },
        "pinyin": {
            "type": "boolean",
            "default": False,
            "description": "Annotate Chinese text with pinyin, e.g. 你好[nǐ hǎo]. "
            "Not with vintage.",
        },
        "vintage": {
            "type": "boolean",
            "default": False,
            "description": "Music / high-quality mode: vocal separation, then the vintage "
            "model. Not with pinyin.",
        },
        "language": {
            "type": "string",
            "enum": sorted(WHISPER_LANGUAGES),
            "description": "ISO 639-1 code; skips language detection. Omit to detect.",
        },
        "chinese_script": {
            "type": "string",
            "enum": list(chinese.SCRIPTS),
            "default": "simplified",
            "description": "For Chinese: simplified (default), traditional, or original.",
        },
        "lyrics": {
            "type": "string",
            "minLength": 1,
            "maxLength": alignment.MAX_LYRICS_CHARS,
            "description": "The words, when you have them (an addition to v1): the transcript "
            "is then your text, one line per line break (blank lines ignored), each word "
            "timed from the audio (the vocal stem in music mode). 1-20,000 characters, not "
            "only whitespace. The job's lyrics_anchored says how much of it was anchored "
            "to words heard; the rest is timed between them, never dropped.",
        },
    }
    if keep_audio:
        properties["keep_audio"] = {
            "type": "boolean",
            "default": False,
            "description": "Keep the upload for playback and a music-mode retry.",
        }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "title": "WebJobUpload" if keep_audio else "TranscriptionUpload",
                    "type": "object",
                    "required": ["file"],
                    "properties": properties,
                    # pinyin with vintage is a 400; said in both descriptions, not as a
                    # "not" here, which schema-driven tools choke on beside a binary part.
                },
                "encoding": {"file": {"contentType": "application/octet-stream"}},
            }
        },
    }


V1 = "/api/v1/transcriptions"
V1_JOB = "/api/v1/transcriptions/{job_id}"

OPERATIONS: Final[Mapping[tuple[str, str], Operation]] = {
    ("GET", "/healthz"): Operation("getHealth", INTERNAL, "Liveness"),
    ("GET", "/readyz"): Operation("getReadiness", _merge(NOT_READY, INTERNAL), "Readiness"),
    ("POST", V1): Operation(
        "createTranscription",
        _merge(PAT, UPLOAD, INTERNAL),
        example=EXAMPLES["submit"],
        request_body=upload_body(keep_audio=False),
        links={
            op: {"job_id": "$response.body#/job_id"}
            for op in (
                "getTranscription",
                "getSegments",
                "exportTranscription",
                "deleteTranscription",
            )
        },
    ),
    ("GET", V1): Operation(
        "listTranscriptions",
        _merge(PAT, _invalid("query parameter", "per_page", "at most 200"), INTERNAL),
        example=EXAMPLES["list"],
    ),
    ("GET", V1_JOB): Operation(
        "getTranscription", _merge(PAT, NOT_FOUND, INTERNAL), example=EXAMPLES["job"]
    ),
    ("DELETE", V1_JOB): Operation(
        "deleteTranscription", _merge(PAT, NOT_FOUND, INTERNAL), example=EXAMPLES["cancelled"]
    ),
    ("GET", f"{V1_JOB}/events"): Operation(
        "streamTranscriptionEvents", _merge(PAT, NOT_FOUND, INTERNAL)
    ),
    ("PATCH", f"{V1_JOB}/segments"): Operation(
        "editSegments",
        _merge(
            PAT,
            NOT_FOUND,
            RESULTS,
            _invalid("lines", "segments.1.start", "overlaps the line before"),
            JSON_BODY,
            INTERNAL,
        ),
        example={**EXAMPLES["segments"], "revision": 1},
    ),
    ("DELETE", f"{V1_JOB}/segments/edits"): Operation(
        "undoSegmentEdits",
        _merge(PAT, NOT_FOUND, RESULTS, INTERNAL),
        example={**EXAMPLES["segments"], "revision": 0},
    ),
    ("GET", f"{V1_JOB}/segments"): Operation(
        "getSegments", _merge(PAT, NOT_FOUND, RESULTS, INTERNAL), example=EXAMPLES["segments"]
    ),
    ("GET", f"{V1_JOB}/export"): Operation(
        "exportTranscription",
        _merge(
            PAT,
            _invalid("format", "format", f"one of {', '.join(formats.FORMATS)}"),
            NOT_FOUND,
            RESULTS,
            INTERNAL,
        ),
    ),
    ("GET", "/api/v1/me"): Operation("getMe", _merge(PAT, INTERNAL), example=EXAMPLES["me"]),
    ("POST", "/api/auth/register"): Operation(
        "register",
        _merge(
            _invalid("e-mail or password", "email", "not a valid e-mail address"),
            CROSS_SITE,
            JSON_BODY,
            INTERNAL,
        ),
        "Create an account",
    ),
    ("POST", "/api/auth/login"): Operation(
        "login",
        _merge(_invalid("body", "password", "Field required"), LOGIN, JSON_BODY, INTERNAL),
        "Start a web session (sets the cookie, returns the JWT)",
    ),
    ("POST", "/api/auth/logout"): Operation(
        "logout", _merge({403: WEB[403]}, INTERNAL), "End the web session, if any"
    ),
    ("GET", "/api/auth/session"): Operation(
        "getSession", _merge(WEB, INTERNAL), "The current web session"
    ),
    ("POST", "/api/auth/tokens"): Operation(
        "createToken",
        _merge(WEB, _invalid("body", "scopes", "unknown scope"), JSON_BODY, INTERNAL),
        "Create a personal access token (plaintext returned once)",
        links={"revokeToken": {"token_id": "$response.body#/id"}},
    ),
    ("GET", "/api/auth/tokens"): Operation(
        "listTokens", _merge(WEB, INTERNAL), "List token metadata (never the plaintext)"
    ),
    ("DELETE", "/api/auth/tokens/{token_id}"): Operation(
        "revokeToken", _merge(WEB, INTERNAL), "Revoke a token (idempotent)"
    ),
}

# Operations where having no credential is fine (they act on it only when present).
OPTIONAL_AUTH: Final = frozenset({("POST", "/api/auth/logout")})


# ---------------------------------------------------------------- building


def install(app: FastAPI) -> None:
    """Serve the rewritten document at the app's openapi_url, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> Json:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    paths: Json = {
        path: item
        for path, item in document.get("paths", {}).items()
        if not path.startswith(HIDDEN_PREFIXES)
    }
    document["paths"] = paths
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorEnvelope"] = copy.deepcopy(ERROR_ENVELOPE)
    settings: Settings | None = getattr(app.state, "settings", None)
    _registration(paths, schemas, settings)
    for method, path, operation in _operations(paths):
        spec = OPERATIONS.get((method, path))
        if spec is None:
            # A route added without an entry still gets an honest minimum; the tests
            # fail until it has its own.
            spec = Operation(operation.get("operationId", ""), INTERNAL)
        _rewrite(operation, method, path, spec, schemas)
    _prune(document)
    return document


def _registration(paths: Json, schemas: Json, settings: Settings | None) -> None:
    """Sign-up shares login's body model but refuses more: say so in a schema of its own."""
    operation = paths.get("/api/auth/register", {}).get("post")
    credentials = schemas.get("Credentials")
    if operation is None or credentials is None:
        return
    registration = copy.deepcopy(credentials)
    registration["title"] = "Registration"
    registration["properties"]["email"]["format"] = "email"
    if settings is not None:
        registration["properties"]["password"]["minLength"] = settings.password_min_length
    schemas["Registration"] = registration
    media = operation["requestBody"]["content"]["application/json"]
    media["schema"] = {"$ref": "#/components/schemas/Registration"}


def _operations(paths: Json) -> Iterator[tuple[str, str, Json]]:
    for path, item in paths.items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield method.upper(), path, operation


def _rewrite(operation: Json, method: str, path: str, spec: Operation, schemas: Json) -> None:
    operation["operationId"] = spec.operation_id
    if spec.summary and not operation.get("summary"):
        operation["summary"] = spec.summary
    if spec.request_body is not None:
        body = copy.deepcopy(spec.request_body)
        media = body["content"]["multipart/form-data"]
        title = media["schema"]["title"]
        schemas[title] = media["schema"]
        media["schema"] = {"$ref": f"#/components/schemas/{title}"}
        operation["requestBody"] = body
    for parameter in operation.get("parameters", []):
        _tighten(parameter)
    if (method, path) in OPTIONAL_AUTH and operation.get("security"):
        operation["security"] = [*operation["security"], {}]

    responses: Json = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status, error in spec.errors.items():
        responses[str(status)] = _error_response(status, error)
    success = next((s for s in responses if s.startswith("2")), None)
    if success is not None and spec.example is not None:
        media = responses[success].setdefault("content", {}).setdefault("application/json", {})
        media["example"] = copy.deepcopy(spec.example)
    if success is not None and spec.links:
        responses[success]["links"] = {
            target: {"operationId": target, "parameters": dict(parameters)}
            for target, parameters in spec.links.items()
        }
    operation["responses"] = dict(sorted(responses.items()))


def _tighten(parameter: Json) -> None:
    schema: Json = parameter.get("schema", {})
    name = parameter.get("name")
    if parameter.get("in") == "path" and name in UUID_PARAMETERS:
        schema["format"] = "uuid"
        parameter.setdefault("example", _JOB_ID)
    if parameter.get("in") == "query":
        # A query parameter cannot be null: leaving it out is how a client says "none".
        options = schema.get("anyOf")
        if isinstance(options, list):
            kept = [o for o in options if o != {"type": "null"}]
            if len(kept) == 1:
                schema.pop("anyOf")
                schema.update(kept[0])
        if name == "format":
            schema["enum"] = list(formats.FORMATS)
    parameter["schema"] = schema


def _error_response(status: int, error: Error) -> Json:
    response: Json = {
        "description": error.description,
        "content": {
            "application/json": {
                "schema": {"$ref": ENVELOPE_REF},
                "example": {
                    "error": {
                        "code": error.code,
                        "message": error.message,
                        "details": dict(error.details),
                    }
                },
            }
        },
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _prune(document: Json) -> None:
    """Drop component schemas nothing public refers to (422's, the web app's)."""
    schemas: Json = document.get("components", {}).get("schemas", {})
    reachable: set[str] = set()
    pending = list(_refs(document.get("paths", {})))
    while pending:
        name = pending.pop()
        if name in reachable or name not in schemas:
            continue
        reachable.add(name)
        pending.extend(_refs(schemas[name]))
    for name in list(schemas):
        if name not in reachable:
            del schemas[name]
