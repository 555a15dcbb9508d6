"""Where a job's stored files live: only the audio kept for playback (``jobs.audio``).

Exports themselves are never stored; ``exports.responses`` renders them on request.
"""

from __future__ import annotations

from pathlib import Path

from textfromtrack.media import storage


def job_exports_dir(data_dir: Path, job_id: str) -> Path:
    return storage.exports_dir(data_dir) / job_id
