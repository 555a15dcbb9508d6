"""``POST /v1/audio/transcriptions``, ``POST /v1/audio/translations``, ``GET /v1/models``.

Each call is an ordinary job: the same token and scopes as ``/api/v1``, the same
upload limits, admission and one credit, listed with the user's other jobs and in
the web app. The call answers when its job is final (or 504 after
``TFT_OPENAI_WAIT_SECONDS``; the job goes on). Errors use OpenAI's shape here
(``errors.OpenAIErrorsMiddleware``); the documentation is OpenAI's own, so these
routes stay out of this service's OpenAPI document.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.orm import Session

from textfromtrack import intake
from textfromtrack.config import Settings
from textfromtrack.deps import (
    ClientIp,
    DatabaseDep,
    DispatcherDep,
    ReadCaller,
    SettingsDep,
    UploadSlotsDep,
    WriteCaller,
    in_session,
)
from textfromtrack.errors import ApiError, Forbidden, InvalidState, NotFound, ValidationFailed
from textfromtrack.exports.formats import ExportMeta
from textfromtrack.exports.responses import as_segment
from textfromtrack.intake import ReceivedUpload
from textfromtrack.jobs import service
from textfromtrack.jobs.models import Job, JobStatus
from textfromtrack.openai_compat import shapes
from textfromtrack.pipeline.models import display_name
from textfromtrack.pipeline.types import Segment
from textfromtrack.tokens import service as tokens

router = APIRouter(prefix="/v1", tags=["openai"], include_in_schema=False)

STANDARD_ALIAS = "whisper-1"
VINTAGE_ID = "textfromtrack-vintage"
MAX_PROMPT_CHARS = 4000
_CREATED = int(time.time())
# Polling the job's row: quick at first (a short clip is done in a second or two),
# then once a second, each time a short transaction of its own.
_FIRST_WAIT, _LONGEST_WAIT = 0.2, 1.0


class WaitTimedOut(ApiError):
    status_code = 504
    code = "internal_error"


class JobFailed(ApiError):
    """The job ended in error (and was refunded); OpenAI clients expect a server error."""

    status_code = 500
    code = "internal_error"


def model_ids(settings: Settings) -> list[str]:
    """What this instance can run: OpenAI's name for the standard pipeline, the local
    standard model by its own name, and music mode."""
    local = display_name(settings.whisper_model.rstrip("/").rsplit("/", 1)[-1])
    return list(dict.fromkeys([STANDARD_ALIAS, local, VINTAGE_ID]))


def _model_entry(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": "textfromtrack"}


@router.get("/models")
async def list_models(caller: ReadCaller, settings: SettingsDep) -> dict[str, Any]:
    return {"object": "list", "data": [_model_entry(m) for m in model_ids(settings)]}


@router.get("/models/{model_id}")
async def get_model(
    model_id: Annotated[str, Path(max_length=200)], caller: ReadCaller, settings: SettingsDep
) -> dict[str, Any]:
    if model_id not in model_ids(settings):
        raise NotFound(f"The model {model_id!r} does not exist.", details={"param": "model"})
    return _model_entry(model_id)


@dataclass
class _Wanted:
    """The response the caller asked for, read from the form with the upload."""

    response_format: str = "json"
    granularities: tuple[str, ...] = ()
    task: str = "transcribe"
    extra: dict[str, Any] = field(default_factory=dict)


def _parse(received: ReceivedUpload, settings: Settings, wanted: _Wanted) -> service.SubmitOptions:
    model = (received.text("model") or "").strip()
    if not model:
        raise ValidationFailed(
            "model is required: whisper-1, or one of GET /v1/models.",
            details={"fields": {"model": "required"}},
        )
    if model not in model_ids(settings):
        raise NotFound(
            f"The model {model!r} does not exist; GET /v1/models lists what this server runs.",
            details={"param": "model"},
        )
    fmt = (received.text("response_format") or "json").strip().lower()
    if fmt not in shapes.RESPONSE_FORMATS:
        raise ValidationFailed(
            f"response_format must be one of {', '.join(shapes.RESPONSE_FORMATS)}.",
            details={"fields": {"response_format": "unknown format"}},
        )
    grains = tuple(
        dict.fromkeys(
            v.strip().lower()
            for key in ("timestamp_granularities[]", "timestamp_granularities")
            for v in received.repeated.get(key, ())
            if v.strip()
        )
    )
    if any(g not in shapes.GRANULARITIES for g in grains):
        raise ValidationFailed(
            "timestamp_granularities[] takes segment and word.",
            details={"fields": {"timestamp_granularities[]": "segment or word"}},
        )
    if grains and fmt != "verbose_json":
        raise ValidationFailed(
            "timestamp_granularities[] needs response_format=verbose_json.",
            details={"fields": {"timestamp_granularities[]": "needs verbose_json"}},
        )
    prompt = received.text("prompt") or None
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise ValidationFailed(
            f"prompt is at most {MAX_PROMPT_CHARS} characters.",
            details={"fields": {"prompt": f"at most {MAX_PROMPT_CHARS} characters"}},
        )
    raw_temperature = (received.text("temperature") or "").strip()
    temperature = None
    if raw_temperature:
        try:
            temperature = float(raw_temperature)
        except ValueError:
            temperature = -1.0
        if not 0.0 <= temperature <= 1.0:
            raise ValidationFailed(
                "temperature is a number from 0 to 1.",
                details={"fields": {"temperature": "between 0 and 1"}},
            )
    language = received.text("language") if wanted.task == "transcribe" else None
    wanted.response_format, wanted.granularities = fmt, grains
    options = service.normalise_options(False, model == VINTAGE_ID, language)
    return service.SubmitOptions(
        vintage=options.vintage,
        language=options.language,
        chinese_script="original",  # what the model wrote, as OpenAI returns it
        prompt=prompt,
        temperature=temperature,
        task=wanted.task,
    )


def _outcome(session: Session, settings: Settings, user_id: str, job_id: str) -> Job | None:
    """The job once it is final, else None."""
    job = service.get_for_user(session, user_id, job_id)
    return job if job.status in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED) else None


def _segments(session: Session, settings: Settings, job: Job) -> list[Segment]:
    return [as_segment(r) for r in service.segments_of(session, settings, job)]


async def _run(
    request: Request,
    caller: WriteCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    slots: UploadSlotsDep,
    ip: ClientIp,
    task: str,
) -> Response:
    if tokens.SCOPE_READ not in caller.scopes:
        # The answer is the transcript, which takes the read scope too.
        raise Forbidden(
            f"This token lacks the {tokens.SCOPE_READ} scope.",
            details={"required_scope": tokens.SCOPE_READ},
        )
    wanted = _Wanted(task=task)
    job = await intake.accept(
        request,
        db,
        settings,
        dispatcher,
        slots,
        caller.user,
        ip,
        lambda received: _parse(received, settings, wanted),
    )
    user_id, job_id = caller.user.id, job.id
    deadline = time.monotonic() + settings.openai_wait_seconds
    delay = _FIRST_WAIT
    while True:
        final = await in_session(db, lambda s: _outcome(s, settings, user_id, job_id))
        if final is not None:
            break
        if time.monotonic() >= deadline:
            raise WaitTimedOut(
                f"The transcription is still running after {settings.openai_wait_seconds:g} s; "
                f"it goes on as job {job_id} (GET /api/v1/transcriptions/{job_id}).",
                details={"job_id": job_id},
            )
        await asyncio.sleep(delay)
        delay = min(_LONGEST_WAIT, delay * 1.5)
    if final.status == JobStatus.ERROR:
        raise JobFailed(final.error or "Transcription failed.", details={"job_id": job_id})
    if final.status == JobStatus.CANCELLED:
        raise InvalidState("The transcription was cancelled.", details={"job_id": job_id})
    segments = await in_session(db, lambda s: _segments(s, settings, final))
    fmt = wanted.response_format
    if fmt == "json":
        return JSONResponse({"text": shapes.text_of(segments)})
    if fmt == "verbose_json":
        return JSONResponse(
            shapes.verbose_json(
                segments,
                task=task,
                language=final.language,
                duration=final.duration_seconds,
                granularities=wanted.granularities,
            )
        )
    meta = ExportMeta(final.id, final.filename, final.language, final.duration_seconds)
    return PlainTextResponse(shapes.plain(fmt, segments, meta))


@router.post("/audio/transcriptions")
async def transcriptions(
    request: Request,
    caller: WriteCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    slots: UploadSlotsDep,
    ip: ClientIp,
) -> Response:
    """OpenAI's createTranscription: multipart ``file``, ``model``, ``language``,
    ``prompt``, ``response_format``, ``temperature``, ``timestamp_granularities[]``."""
    return await _run(request, caller, db, settings, dispatcher, slots, ip, "transcribe")


@router.post("/audio/translations")
async def translations(
    request: Request,
    caller: WriteCaller,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    slots: UploadSlotsDep,
    ip: ClientIp,
) -> Response:
    """OpenAI's createTranslation: the same, into English (Whisper's translate task)."""
    return await _run(request, caller, db, settings, dispatcher, slots, ip, "translate")
