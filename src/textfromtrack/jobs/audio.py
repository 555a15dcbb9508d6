"""The uploaded audio, kept for playback when the user asks (``keep_audio``).

It lives inside the job's folder in the store (``exports/<job id>/``, in the data dir
or the bucket), so every path that deletes that folder (cancelling a done job, the
retention sweep, a finish that fails half-way) deletes the audio with it, and no
separate bookkeeping can forget it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from textfromtrack.media import storage
from textfromtrack.media.decode import transcode_mp3
from textfromtrack.media.store import Store, job_prefix

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


def keep(store: Store, job_id: str, upload: Path) -> str:
    """Store a copy of the upload in the job's folder (plus an MP3 when browsers can't
    play it); returns the kept copy's key.

    A copy, not a move: until the job is marked done the upload may still be needed (a
    job taken over by another worker after a missed heartbeat), and the worker's own
    clean-up drops the upload once the job is final.
    """
    ext = upload.suffix.lower().lstrip(".")
    kept = f"{job_prefix(job_id)}{SOURCE_STEM}.{ext}"
    store.put_file(kept, upload, move=False)
    if ext not in AUDIO_MEDIA_TYPES:
        playback = f"{job_prefix(job_id)}{PLAYBACK_NAME}"
        spooled = store.spool(playback)
        try:
            transcode_mp3(upload, spooled, PLAYBACK_BITRATE, PLAYBACK_SAMPLE_RATE)
            store.put_file(playback, spooled, move=True)
        finally:
            # A bucket's local copy goes; in a folder the spool is the stored file itself.
            if not store.on_this_machine:
                storage.remove_quietly(spooled)
    return kept


def _names(store: Store, job_id: str) -> dict[str, str]:
    """The job's stored files, by name (one listing, not a look-up per name)."""
    return {obj.name: obj.key for obj in store.objects(job_prefix(job_id))}


def source_key(store: Store, job_id: str) -> str | None:
    """The kept upload's key, or None when it was not kept or is gone."""
    return _source_of(_names(store, job_id))


def _source_of(names: dict[str, str]) -> str | None:
    for name in sorted(names):
        if PurePosixPath(name).stem == SOURCE_STEM and PurePosixPath(name).suffix:
            return names[name]
    return None


def playback_key(store: Store, job_id: str) -> tuple[str, str] | None:
    """The key of the file the player streams and its media type, or None when there is none."""
    names = _names(store, job_id)
    source = _source_of(names)
    if source is None:
        return None
    media_type = AUDIO_MEDIA_TYPES.get(PurePosixPath(source).suffix.lower().lstrip("."))
    if media_type is not None:
        return source, media_type
    mp3 = names.get(PLAYBACK_NAME)
    return (mp3, "audio/mpeg") if mp3 is not None else None
