"""/openapi.json says what the server does: ids, errors, examples, formats.

The table here is written out again on purpose rather than read from
textfromtrack.openapi, so a change to the public contract shows in two places.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from textfromtrack import openapi
from textfromtrack.errors import ApiError

# (method, path) -> (operationId, the error statuses it declares)
EXPECTED: dict[tuple[str, str], tuple[str, set[int]]] = {
    ("GET", "/healthz"): ("getHealth", {500}),
    ("GET", "/readyz"): ("getReadiness", {500, 503}),
    ("POST", "/api/v1/transcriptions"): (
        "createTranscription",
        {400, 401, 402, 403, 408, 413, 429, 500},
    ),
    ("GET", "/api/v1/transcriptions"): ("listTranscriptions", {400, 401, 403, 500}),
    ("GET", "/api/v1/transcriptions/{job_id}"): ("getTranscription", {401, 403, 404, 500}),
    ("DELETE", "/api/v1/transcriptions/{job_id}"): (
        "deleteTranscription",
        {401, 403, 404, 500},
    ),
    ("GET", "/api/v1/transcriptions/{job_id}/events"): (
        "streamTranscriptionEvents",
        {401, 403, 404, 500},
    ),
    ("PATCH", "/api/v1/transcriptions/{job_id}/segments"): (
        "editSegments",
        {400, 401, 403, 404, 409, 410, 413, 500},
    ),
    ("DELETE", "/api/v1/transcriptions/{job_id}/segments/edits"): (
        "undoSegmentEdits",
        {401, 403, 404, 409, 410, 500},
    ),
    ("GET", "/api/v1/transcriptions/{job_id}/segments"): (
        "getSegments",
        {401, 403, 404, 409, 410, 500},
    ),
    ("GET", "/api/v1/transcriptions/{job_id}/export"): (
        "exportTranscription",
        {400, 401, 403, 404, 409, 410, 500},
    ),
    ("GET", "/api/v1/me"): ("getMe", {401, 403, 500}),
    ("POST", "/api/auth/register"): ("register", {400, 403, 413, 500}),
    ("POST", "/api/auth/login"): ("login", {400, 401, 403, 413, 429, 500}),
    ("POST", "/api/auth/logout"): ("logout", {403, 500}),
    ("GET", "/api/auth/session"): ("getSession", {401, 403, 500}),
    ("POST", "/api/auth/tokens"): ("createToken", {400, 401, 403, 413, 500}),
    ("GET", "/api/auth/tokens"): ("listTokens", {401, 403, 500}),
    ("DELETE", "/api/auth/tokens/{token_id}"): ("revokeToken", {401, 403, 500}),
}
CATALOGUE_STATUSES = {400, 401, 402, 403, 404, 408, 409, 410, 413, 429, 500}
WITH_EXAMPLES = {
    "createTranscription": "201",
    "getTranscription": "200",
    "getSegments": "200",
    "listTranscriptions": "200",
    "getMe": "200",
}
ENVELOPE = {"$ref": openapi.ENVELOPE_REF}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def test_every_public_operation_and_only_those(spec: dict[str, Any]) -> None:
    assert set(_operations(spec)) == set(EXPECTED)
    assert not [p for p in spec["paths"] if p.startswith("/api/web")]


@pytest.mark.parametrize(("method", "path"), list(EXPECTED), ids=[f"{m} {p}" for m, p in EXPECTED])
def test_operation_id_and_declared_errors(spec: dict[str, Any], method: str, path: str) -> None:
    operation = _operations(spec)[(method, path)]
    operation_id, errors = EXPECTED[(method, path)]
    assert operation["operationId"] == operation_id
    statuses = {int(s) for s in operation["responses"]}
    assert "422" not in operation["responses"]
    assert {s for s in statuses if s >= 300} == errors
    assert errors <= CATALOGUE_STATUSES | ({503} if path == "/readyz" else set())
    assert len([s for s in statuses if s < 300]) == 1
    for status in errors:
        response = operation["responses"][str(status)]
        media = response["content"]["application/json"]
        assert media["schema"] == ENVELOPE
        example = media["example"]["error"]
        assert example["code"] in openapi.CODES_BY_STATUS[status]
        assert set(example) == {"code", "message", "details"}
    if 429 in errors:
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True


def test_operation_ids_come_from_method_and_path_not_handler_names() -> None:
    assert {spec.operation_id for spec in openapi.OPERATIONS.values()} == {
        operation_id for operation_id, _ in EXPECTED.values()
    }
    assert set(openapi.OPERATIONS) == set(EXPECTED)


def test_error_envelope_lists_the_catalogue(spec: dict[str, Any]) -> None:
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    error = envelope["properties"]["error"]
    assert envelope["required"] == ["error"]
    assert error["required"] == ["code", "message", "details"]
    assert error["properties"]["code"]["enum"] == [
        "validation_error",
        "track_too_long",
        "unauthorized",
        "insufficient_credits",
        "forbidden",
        "not_found",
        "gone",
        "rate_limited",
        "internal_error",
    ]
    for name in ("HTTPValidationError", "ValidationError"):
        assert name not in spec["components"]["schemas"]


def _subclasses(cls: type[ApiError]) -> list[type[ApiError]]:
    found = []
    for sub in cls.__subclasses__():
        found.extend([sub, *_subclasses(sub)])
    return found


def test_every_domain_error_uses_a_catalogue_code_that_fits_its_status() -> None:
    for cls in [ApiError, *_subclasses(ApiError)]:
        assert cls.code in openapi.CATALOGUE_CODES, cls
        assert cls.code in openapi.CODES_BY_STATUS[cls.status_code], cls


@pytest.mark.parametrize(("operation_id", "status"), list(WITH_EXAMPLES.items()))
def test_the_specs_examples(spec: dict[str, Any], operation_id: str, status: str) -> None:
    (operation,) = [o for o in _operations(spec).values() if o["operationId"] == operation_id]
    example = operation["responses"][status]["content"]["application/json"]["example"]
    schema = _resolve(spec, operation["responses"][status]["content"]["application/json"]["schema"])
    assert set(example) == set(schema["properties"])


def test_job_status_is_an_enum_with_cancelled(spec: dict[str, Any]) -> None:
    status = spec["components"]["schemas"]["JobStatus"]
    assert status["enum"] == ["pending", "processing", "done", "error", "cancelled"]
    for name in ("SubmitOut", "JobSummary", "JobOut"):
        assert spec["components"]["schemas"][name]["properties"]["status"]["$ref"].endswith(
            "/JobStatus"
        )


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ("SubmitOut", "job_id"),
        ("JobSummary", "job_id"),
        ("JobOut", "job_id"),
        ("SegmentsOut", "job_id"),
        ("MeOut", "user_id"),
        ("TokenOut", "id"),
        ("TokenCreated", "id"),
    ],
)
def test_ids_are_uuids(spec: dict[str, Any], schema: str, field: str) -> None:
    assert spec["components"]["schemas"][schema]["properties"][field]["format"] == "uuid"


def test_job_id_path_parameters_are_uuids(spec: dict[str, Any]) -> None:
    for (_, path), operation in _operations(spec).items():
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "job_id":
                assert parameter["in"] == "path", path
                assert parameter["schema"]["format"] == "uuid", path


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ("JobSummary", "created_at"),
        ("JobSummary", "completed_at"),
        ("TokenOut", "created_at"),
        ("AccountOut", "created_at"),
        ("LoginOut", "expires_at"),
    ],
)
def test_timestamps_are_documented_in_the_wire_shape(
    spec: dict[str, Any], schema: str, field: str
) -> None:
    prop = spec["components"]["schemas"][schema]["properties"][field]
    options = prop.get("anyOf", [prop])
    (timestamp,) = [o for o in options if o.get("type") == "string"]
    assert timestamp["format"] == "date-time"
    assert timestamp["examples"] == ["2026-05-08T10:00:00Z"]


def test_upload_body_is_declared(spec: dict[str, Any]) -> None:
    operation = _operations(spec)[("POST", "/api/v1/transcriptions")]
    media = operation["requestBody"]["content"]["multipart/form-data"]
    body = _resolve(spec, media["schema"])
    assert body["required"] == ["file"]
    assert body["properties"]["file"] == {**body["properties"]["file"], "format": "binary"}
    assert set(body["properties"]) == {
        "file",
        "pinyin",
        "vintage",
        "language",
        "chinese_script",
        "lyrics",
    }
    lyrics = body["properties"]["lyrics"]
    assert (lyrics["type"], lyrics["minLength"], lyrics["maxLength"]) == ("string", 1, 20_000)
    assert body["properties"]["chinese_script"]["enum"] == ["simplified", "traditional", "original"]
    assert "en" in body["properties"]["language"]["enum"]


def test_query_parameters_are_bounded_or_enumerated(spec: dict[str, Any]) -> None:
    listing = _operations(spec)[("GET", "/api/v1/transcriptions")]
    params = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert params["per_page"]["maximum"] == 200 and params["page"]["minimum"] == 1
    assert params["status"]["$ref"].endswith("/JobStatus")
    export = _operations(spec)[("GET", "/api/v1/transcriptions/{job_id}/export")]
    (fmt,) = [p["schema"] for p in export["parameters"] if p["name"] == "format"]
    assert fmt["enum"] == ["txt", "srt", "lrc", "json", "vtt"]


def test_the_document_is_built_once(client: TestClient) -> None:
    app: Any = client.app
    assert app.openapi() is app.openapi()


def test_developer_page_names_every_final_status(client: TestClient) -> None:
    page = client.get("/developers").text
    assert "<code>cancelled</code> are final" in page
    # Each polling loop stops on all three final statuses.
    assert page.count('"cancelled"') >= 3
