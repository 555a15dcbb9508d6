"""Export formats as pure functions of the segments: txt, srt, vtt, lrc, json."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from textfromtrack.pipeline.types import Segment

FORMATS = ("txt", "srt", "lrc", "json", "vtt")
MEDIA_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "lrc": "text/x-lrc; charset=utf-8",
    "json": "application/json",
}
LRC_CREATOR = "TextFromTrack"
# Karaoke players keep a line lit until the next timestamp; an empty line clears it
# when the singer pauses for longer than this.
LRC_CLEAR_GAP_SECONDS = 2.0


@dataclass(frozen=True)
class ExportMeta:
    job_id: str
    filename: str
    language: str | None
    duration_seconds: float


def _clean(text: str) -> str:
    # Subtitles and lyrics are line-based: a stray newline would split a cue.
    return " ".join(text.split())


def to_txt(segments: Sequence[Segment]) -> str:
    return "".join(f"{_clean(s.text)}\n" for s in segments)


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def srt_time(seconds: float) -> str:
    return _clock(seconds, ",")


def vtt_time(seconds: float) -> str:
    return _clock(seconds, ".")


def lrc_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    minutes, cs = divmod(cs, 6000)
    secs, cs = divmod(cs, 100)
    return f"{minutes:02d}:{secs:02d}.{cs:02d}"


def _cue_end(seg: Segment) -> float:
    # A zero-length cue is invisible in most players.
    return max(seg.end, seg.start + 0.01)


def to_srt(segments: Sequence[Segment]) -> str:
    blocks = [
        f"{n}\n{srt_time(s.start)} --> {srt_time(_cue_end(s))}\n{_clean(s.text)}\n"
        for n, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Sequence[Segment]) -> str:
    # "-->" inside cue text would end the cue early.
    blocks = [
        f"{vtt_time(s.start)} --> {vtt_time(_cue_end(s))}\n{_clean(s.text).replace('-->', '->')}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _lrc_tag_value(value: str) -> str:
    return _clean(value).replace("[", "(").replace("]", ")")


def _joined_words(seg: Segment) -> str:
    return " ".join("".join(w.text for w in seg.words).split())


def lrc_words_line(seg: Segment) -> str | None:
    """An enhanced-LRC line, ``[mm:ss.xx] <mm:ss.xx> word <mm:ss.xx> word ... <end>``, or
    None when the segment has no word timings or its text is no longer its words (pinyin
    or a script conversion rewrote it): then the plain line is written, never words
    that disagree with the transcript."""
    if not seg.words or _joined_words(seg) != " ".join(_clean(seg.text).split()):
        return None
    line = f"[{lrc_time(seg.start)}]"
    spaced = True
    for n, word in enumerate(seg.words):
        text = _clean(word.text)
        if not text:
            continue
        # Whisper marks a word that follows a space with a leading space; CJK words have
        # none, and a player shows whatever sits between the tags, so none is added.
        spaced = n == 0 or word.text[:1].isspace()
        tag = f"<{lrc_time(word.start)}>"
        line += f" {tag} {text}" if spaced else f"{tag}{text}"
    # The last word's end closes the line, so a player knows when to stop highlighting.
    end = f"<{lrc_time(max(seg.words[-1].end, seg.words[-1].start))}>"
    return f"{line} {end}" if spaced else f"{line}{end}"


def to_lrc(segments: Sequence[Segment], meta: ExportMeta, *, words: bool = False) -> str:
    """Line-synced LRC; with ``words`` the enhanced (word-synced, "A2") form where word
    timings exist. Plain players read the enhanced form as plain lines."""
    title = PurePath(meta.filename).stem or meta.filename
    minutes, secs = divmod(max(0, round(meta.duration_seconds)), 60)
    lines = [
        f"[ti:{_lrc_tag_value(title)}]",
        f"[length:{minutes:02d}:{secs:02d}]",
        f"[re:{LRC_CREATOR}]",
    ]
    if meta.language:
        lines.append(f"[la:{_lrc_tag_value(meta.language)}]")
    for i, seg in enumerate(segments):
        enhanced = lrc_words_line(seg) if words else None
        lines.append(enhanced or f"[{lrc_time(seg.start)}]{_clean(seg.text)}")
        next_start = segments[i + 1].start if i + 1 < len(segments) else None
        if next_start is None or next_start - seg.end >= LRC_CLEAR_GAP_SECONDS:
            lines.append(f"[{lrc_time(seg.end)}]")
    return "\n".join(lines) + "\n"


def segments_document(
    segments: Sequence[Segment], meta: ExportMeta, *, words: bool = False
) -> dict[str, Any]:
    """The spec's segments JSON: job id, language, duration and the indexed lines."""
    items: list[dict[str, Any]] = []
    for s in segments:
        item: dict[str, Any] = {
            "index": s.index,
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "text": s.text,
        }
        if words:
            item["words"] = [
                {
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "text": w.text.strip(),
                    "probability": None if w.probability is None else round(w.probability, 4),
                }
                for w in s.words
            ]
        items.append(item)
    return {
        "job_id": meta.job_id,
        "language": meta.language,
        "duration_seconds": round(meta.duration_seconds, 3),
        "segments": items,
    }


def to_json(segments: Sequence[Segment], meta: ExportMeta) -> str:
    return (
        json.dumps(segments_document(segments, meta, words=True), ensure_ascii=False, indent=2)
        + "\n"
    )


def render(fmt: str, segments: Sequence[Segment], meta: ExportMeta, *, words: bool = False) -> str:
    """``fmt`` as text; ``words`` asks for word timings where the format has them (LRC)."""
    if fmt == "txt":
        return to_txt(segments)
    if fmt == "srt":
        return to_srt(segments)
    if fmt == "vtt":
        return to_vtt(segments)
    if fmt == "lrc":
        return to_lrc(segments, meta, words=words)
    if fmt == "json":
        return to_json(segments, meta)
    raise ValueError(f"unknown export format {fmt!r}")


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def export_filename(upload_name: str, fmt: str) -> str:
    stem = PurePath(upload_name.replace("\\", "/")).stem.strip() or "transcript"
    return f"{stem}.{fmt}"


def content_disposition(upload_name: str, fmt: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 5987 UTF-8."""
    name = export_filename(upload_name, fmt)
    stem = name.removesuffix(f".{fmt}")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = _UNSAFE.sub("_", ascii_stem).strip(" ._") or "transcript"
    return f"attachment; filename=\"{ascii_stem}.{fmt}\"; filename*=UTF-8''{quote(name, safe='')}"
