"""Typed views of the API's JSON.

Parsing is lenient about what v1 may add (new fields are ignored, and kept in
``raw``) and strict about what it promises (a missing promised field raises).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"


#: Statuses a job never leaves (plain strings: a job's status may be one this client
#: does not know yet).
FINISHED = frozenset(s.value for s in (JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED))
#: Export formats the server writes for every finished job.
FORMATS = ("txt", "srt", "lrc", "json", "vtt")


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} should be a string, got {value!r}")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _float(data: Mapping[str, Any], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} should be a number, got {value!r}")
    return float(value)


def _opt_float(data: Mapping[str, Any], key: str) -> float | None:
    return None if data.get(key) is None else _float(data, key)


def _int(data: Mapping[str, Any], key: str, default: int | None = None) -> int:
    if default is not None and data.get(key) is None:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} should be an integer, got {value!r}")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _bool(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key} should be a boolean, got {value!r}")
    return value


def _list(data: Mapping[str, Any], key: str, *, required: bool = True) -> list[Any]:
    value = data[key] if required else (data.get(key) or [])
    if not isinstance(value, list):
        raise TypeError(f"{key} should be a list, got {value!r}")
    return value


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    # Python 3.11's fromisoformat reads the trailing "Z" the API may send.
    return datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Submission:
    """What POST /transcriptions answers: the job exists and one credit is reserved."""

    job_id: str
    status: str
    credits_quoted: int
    duration_seconds: float
    vintage_mode: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Submission:
        return cls(
            job_id=_str(data, "job_id"),
            status=_str(data, "status"),
            credits_quoted=_int(data, "credits_quoted"),
            duration_seconds=_float(data, "duration_seconds"),
            vintage_mode=_bool(data, "vintage_mode"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Attempt:
    """One transcription attempt of a job (its ``attempts_log``).

    A job whose standard transcript looked poor gets a second, vintage attempt
    with vocal separation; the better one wins.
    """

    number: int
    pipeline: str | None
    engine: str | None
    model: str | None
    separator: str | None
    seconds: float | None
    language: str | None
    verdict: str | None
    quality: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], position: int) -> Attempt:
        quality = data.get("quality")
        return cls(
            number=_int(data, "attempt", default=position),
            pipeline=_opt_str(data, "pipeline"),
            engine=_opt_str(data, "engine"),
            model=_opt_str(data, "model"),
            separator=_opt_str(data, "separator"),
            seconds=_opt_float(data, "seconds"),
            language=_opt_str(data, "language"),
            verdict=_opt_str(data, "verdict"),
            quality=dict(quality) if isinstance(quality, dict) else {},
            raw=dict(data),
        )


@dataclass(frozen=True)
class Job:
    """A transcription job, as GET /transcriptions/{id} (or a listing) describes it.

    ``attempts_log`` is empty in listings, which use the slim shape.
    """

    job_id: str
    status: str
    filename: str
    language: str | None
    duration_seconds: float
    segment_count: int | None
    credits_charged: int
    model: str | None
    degraded: bool
    vocal_separation_used: bool
    attempts: int
    runtime_seconds: float | None
    created_at: datetime | None
    completed_at: datetime | None
    vintage_mode: bool
    pinyin: bool
    progress: float
    error: str | None
    exports_expire_at: datetime | None
    attempts_log: tuple[Attempt, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def retried_with_vocal_separation(self) -> bool:
        """True when the automatic retry ran: the standard transcript was judged poor."""
        return self.attempts >= 2 and self.vocal_separation_used

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        log = _list(data, "attempts_log", required=False)
        return cls(
            job_id=_str(data, "job_id"),
            status=_str(data, "status"),
            filename=_str(data, "filename"),
            language=_opt_str(data, "language"),
            duration_seconds=_float(data, "duration_seconds"),
            segment_count=_opt_int(data, "segment_count"),
            credits_charged=_int(data, "credits_charged"),
            model=_opt_str(data, "model"),
            degraded=_bool(data, "degraded"),
            vocal_separation_used=_bool(data, "vocal_separation_used"),
            attempts=_int(data, "attempts", default=0),
            runtime_seconds=_opt_float(data, "runtime_seconds"),
            created_at=_time(data, "created_at"),
            completed_at=_time(data, "completed_at"),
            vintage_mode=_bool(data, "vintage_mode"),
            pinyin=_bool(data, "pinyin"),
            # Not in the spec's example; servers that omit it report only start and end.
            progress=_float(data, "progress")
            if data.get("progress") is not None
            else (1.0 if data.get("status") == JobStatus.DONE else 0.0),
            error=_opt_str(data, "error"),
            exports_expire_at=_time(data, "exports_expire_at"),
            attempts_log=tuple(
                Attempt.from_dict(entry, i)
                for i, entry in enumerate(log, start=1)
                if isinstance(entry, dict)
            ),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Segment:
    index: int
    start: float
    end: float
    text: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        return cls(
            index=_int(data, "index"),
            start=_float(data, "start"),
            end=_float(data, "end"),
            text=_str(data, "text"),
        )


@dataclass(frozen=True)
class Segments:
    """GET /transcriptions/{id}/segments: the timestamped transcript."""

    job_id: str
    language: str | None
    duration_seconds: float
    segments: tuple[Segment, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segments:
        rows = _list(data, "segments")
        return cls(
            job_id=_str(data, "job_id"),
            language=_opt_str(data, "language"),
            duration_seconds=_float(data, "duration_seconds"),
            segments=tuple(Segment.from_dict(r) for r in rows),
            raw=dict(data),
        )


@dataclass(frozen=True)
class JobPage:
    """One page of GET /transcriptions (newest first)."""

    page: int
    per_page: int
    total: int
    transcriptions: tuple[Job, ...]

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobPage:
        rows = _list(data, "transcriptions")
        return cls(
            page=_int(data, "page"),
            per_page=_int(data, "per_page"),
            total=_int(data, "total"),
            transcriptions=tuple(Job.from_dict(r) for r in rows),
        )


@dataclass(frozen=True)
class Me:
    """GET /me: who the token belongs to and what they can spend."""

    user_id: str
    email: str
    credit_balance: int
    top_up_url: str
    scopes_granted: tuple[str, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Me:
        scopes = data.get("scopes_granted") or []
        return cls(
            user_id=_str(data, "user_id"),
            email=_str(data, "email"),
            credit_balance=_int(data, "credit_balance"),
            top_up_url=_str(data, "top_up_url"),
            scopes_granted=tuple(str(s) for s in scopes),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Transcription:
    """What ``TextFromTrack.transcribe`` returns: the finished job, its lines, its files."""

    job: Job
    segments: tuple[Segment, ...]
    exports: dict[str, bytes]

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)
