"""The uploaded audio, kept for playback when the user asks (``keep_audio``).

It lives inside the job's exports folder, so every path that deletes the exports
(cancelling a done job, the retention sweep, a finish that fails half-way) deletes
the audio with them, and no separate bookkeeping can forget it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from textfromtrack.exports.files import job_exports_dir
from textfromtrack.media.decode import transcode_mp3

SOURCE_STEM = "source"
PLAYBACK_NAME = "playback.mp3"
# Containers an <audio> element plays in current browsers; the others (AIFF, WMA) get an
# MP3 copy for the player, while the original stays for a retry in music mode.
AUDIO_MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}
PLAYBACK_BITRATE = 128_000
PLAYBACK_SAMPLE_RATE = 44_100


def keep(data_dir: Path, job_id: str, upload: Path) -> Path:
    """Copy the upload into the job's exports folder (plus an MP3 when browsers can't play it).

    A copy, not a move: until the job is marked done the upload may still be needed (a
    job taken over by another worker after a missed heartbeat), and the worker's own
    clean-up drops the upload once the job is final.
    """
    folder = job_exports_dir(data_dir, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    ext = upload.suffix.lower().lstrip(".")
    kept = folder / f"{SOURCE_STEM}.{ext}"
    tmp = kept.with_name(f".{kept.name}.tmp")
    try:
        shutil.copyfile(upload, tmp)
        os.replace(tmp, kept)
    finally:
        tmp.unlink(missing_ok=True)
    if ext not in AUDIO_MEDIA_TYPES:
        transcode_mp3(kept, folder / PLAYBACK_NAME, PLAYBACK_BITRATE, PLAYBACK_SAMPLE_RATE)
    return kept


def source_path(data_dir: Path, job_id: str) -> Path | None:
    """The kept upload, or None when it was not kept or is gone."""
    folder = job_exports_dir(data_dir, job_id)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"{SOURCE_STEM}.*")):
        if path.is_file():
            return path
    return None


def playback_path(data_dir: Path, job_id: str) -> tuple[Path, str] | None:
    """The file the player streams and its media type, or None when there is none."""
    source = source_path(data_dir, job_id)
    if source is None:
        return None
    media_type = AUDIO_MEDIA_TYPES.get(source.suffix.lower().lstrip("."))
    if media_type is not None:
        return source, media_type
    mp3 = source.with_name(PLAYBACK_NAME)
    return (mp3, "audio/mpeg") if mp3.is_file() else None
