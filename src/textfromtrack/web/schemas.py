from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from textfromtrack.jobs.schemas import JobId, JobOut


class WebJob(JobOut):
    """The API's job detail plus what the app shows around it."""

    keep_audio: bool
    audio_available: bool
    language_requested: str | None


class WebJobList(BaseModel):
    page: int
    per_page: int
    total: int
    active: int
    jobs: list[WebJob]


class WebWord(BaseModel):
    start: float
    end: float
    text: str


class WebPiece(BaseModel):
    """A run of a line's text; ``start``/``end`` when it is a timed word."""

    text: str
    start: float | None = None
    end: float | None = None


class WebSegment(BaseModel):
    index: int
    start: float
    end: float
    # Exactly the line the exports write (pinyin and script conversion included).
    text: str
    words: list[WebWord]
    # ``text`` cut into timed words and the untimed runs between them (pinyin brackets,
    # punctuation): joined, they are ``text``; the page highlights the timed ones.
    pieces: list[WebPiece]


class WebSegments(BaseModel):
    job_id: JobId
    language: str | None
    duration_seconds: float
    # 0: the machine's lines; each saved edit adds one.
    revision: int = 0
    segments: list[WebSegment]


class WebAccount(BaseModel):
    email: str
    credit_balance: int
    top_up_url: str


def words_of(raw: list[list[Any]]) -> list[WebWord]:
    """Stored words are [start, end, text, probability]; the app needs the first three."""
    return [WebWord(start=w[0], end=w[1], text=str(w[2])) for w in raw if len(w) >= 3]


def shown_text(text: str) -> str:
    """A line as every export writes it (whitespace collapsed: exports are line-based)."""
    return " ".join(text.split())


def pieces_of(text: str, words: list[WebWord]) -> list[WebPiece]:
    """``text`` as timed words and the runs between them, or one untimed piece.

    The words are found in the text in order; pinyin (``广州市[guǎng zhōu shì]``)
    and punctuation fall between them. When a word is not where the text says (an
    edited line), the line is shown untimed rather than with timings that disagree.
    """
    pieces: list[WebPiece] = []
    pos = 0
    for word in words:
        token = word.text.strip()
        if not token:
            continue
        found = text.find(token, pos)
        if found < 0:
            return [WebPiece(text=text)] if text else []
        if found > pos:
            pieces.append(WebPiece(text=text[pos:found]))
        pieces.append(WebPiece(text=token, start=word.start, end=word.end))
        pos = found + len(token)
    if pos < len(text):
        pieces.append(WebPiece(text=text[pos:]))
    return pieces


def web_segment(
    index: int, start: float, end: float, text: str, raw: list[list[Any]]
) -> WebSegment:
    shown = shown_text(text)
    words = words_of(raw)
    return WebSegment(
        index=index,
        start=start,
        end=end,
        text=shown,
        words=words,
        pieces=pieces_of(shown, words),
    )
