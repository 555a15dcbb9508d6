"""Export formats: table-driven checks of every format's exact output."""

from __future__ import annotations

import json

import pytest

from textfromtrack.exports import formats
from textfromtrack.exports.formats import ExportMeta
from textfromtrack.pipeline.types import Segment, Word

META = ExportMeta(job_id="job-1", filename="My Song.mp3", language="en", duration_seconds=187.3)
SEGS = [
    Segment(
        0, 0.0, 4.2, "First line", (Word(0.0, 1.0, " First", 0.9), Word(1.1, 4.2, " line", 0.8))
    ),
    Segment(1, 4.2, 8.5, "Second\nline"),
    Segment(2, 12.0, 12.0, "Third"),
]


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt", "lrc"),
    [
        (0.0, "00:00:00,000", "00:00:00.000", "00:00.00"),
        (4.2, "00:00:04,200", "00:00:04.200", "00:04.20"),
        (59.9996, "00:01:00,000", "00:01:00.000", "01:00.00"),
        (61.005, "00:01:01,005", "00:01:01.005", "01:01.00"),
        (3599.999, "00:59:59,999", "00:59:59.999", "60:00.00"),
        (3723.5, "01:02:03,500", "01:02:03.500", "62:03.50"),
        (-1.0, "00:00:00,000", "00:00:00.000", "00:00.00"),
    ],
)
def test_timestamps(seconds: float, srt: str, vtt: str, lrc: str) -> None:
    assert formats.srt_time(seconds) == srt
    assert formats.vtt_time(seconds) == vtt
    assert formats.lrc_time(seconds) == lrc


def test_txt_is_one_line_per_segment() -> None:
    assert formats.to_txt(SEGS) == "First line\nSecond line\nThird\n"
    assert formats.to_txt([]) == ""


def test_srt() -> None:
    assert formats.to_srt(SEGS) == (
        "1\n00:00:00,000 --> 00:00:04,200\nFirst line\n\n"
        "2\n00:00:04,200 --> 00:00:08,500\nSecond line\n\n"
        "3\n00:00:12,000 --> 00:00:12,010\nThird\n"
    )


def test_vtt() -> None:
    out = formats.to_vtt([*SEGS, Segment(3, 13, 14, "a --> b")])
    assert out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:04.200\nFirst line\n\n")
    assert "a -> b" in out and "a --> b" not in out


def test_lrc_has_header_tags_and_clears_after_pauses() -> None:
    assert formats.to_lrc(SEGS, META) == (
        "[ti:My Song]\n[length:03:07]\n[re:TextFromTrack]\n[la:en]\n"
        "[00:00.00]First line\n"
        "[00:04.20]Second line\n"
        "[00:08.50]\n"
        "[00:12.00]Third\n"
        "[00:12.00]\n"
    )


def test_lrc_tag_values_cannot_break_the_tag() -> None:
    meta = ExportMeta("j", "[weird] name].flac", None, 5)
    assert formats.to_lrc([], meta).splitlines()[0] == "[ti:(weird) name)]"


def test_json_document() -> None:
    doc = json.loads(formats.to_json(SEGS, META))
    assert doc["job_id"] == "job-1" and doc["language"] == "en" and doc["duration_seconds"] == 187.3
    assert [s["index"] for s in doc["segments"]] == [0, 1, 2]
    assert doc["segments"][0]["words"][0] == {
        "start": 0.0,
        "end": 1.0,
        "text": "First",
        "probability": 0.9,
    }
    plain = formats.segments_document(SEGS, META)
    assert set(plain["segments"][0]) == {"index", "start", "end", "text"}


def test_render_dispatches_and_rejects_unknown() -> None:
    for fmt in formats.FORMATS:
        assert formats.render(fmt, SEGS, META)
        assert fmt in formats.MEDIA_TYPES
    with pytest.raises(ValueError):
        formats.render("docx", SEGS, META)


@pytest.mark.parametrize(
    ("upload", "fmt", "expected"),
    [
        ("track.mp3", "lrc", "attachment; filename=\"track.lrc\"; filename*=UTF-8''track.lrc"),
        (
            "My Song.flac",
            "srt",
            "attachment; filename=\"My Song.srt\"; filename*=UTF-8''My%20Song.srt",
        ),
        (
            "晴天.mp3",
            "txt",
            "attachment; filename=\"transcript.txt\"; filename*=UTF-8''%E6%99%B4%E5%A4%A9.txt",
        ),
        (
            "Café del Mar.wav",
            "vtt",
            "attachment; filename=\"Cafe del Mar.vtt\"; filename*=UTF-8''Caf%C3%A9%20del%20Mar.vtt",
        ),
        (
            'evil"; x=1.mp3',
            "json",
            "attachment; filename=\"evil_ x_1.json\"; filename*=UTF-8''evil%22%3B%20x%3D1.json",
        ),
        (
            "../../etc/passwd.mp3",
            "txt",
            "attachment; filename=\"passwd.txt\"; filename*=UTF-8''passwd.txt",
        ),
        ("C:\\music\\a.mp3", "lrc", "attachment; filename=\"a.lrc\"; filename*=UTF-8''a.lrc"),
        ("", "lrc", "attachment; filename=\"transcript.lrc\"; filename*=UTF-8''transcript.lrc"),
    ],
)
def test_content_disposition(upload: str, fmt: str, expected: str) -> None:
    assert formats.content_disposition(upload, fmt) == expected
