"""Where a job's export files live, and writing them all at once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from textfromtrack.exports.formats import FORMATS, ExportMeta, render
from textfromtrack.media import storage
from textfromtrack.pipeline.types import Segment

EXPORT_STEM = "transcript"


def job_exports_dir(data_dir: Path, job_id: str) -> Path:
    return storage.exports_dir(data_dir) / job_id


def export_path(data_dir: Path, job_id: str, fmt: str) -> Path:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    return job_exports_dir(data_dir, job_id) / f"{EXPORT_STEM}.{fmt}"


def write_exports(data_dir: Path, segments: Sequence[Segment], meta: ExportMeta) -> Path:
    """Write every format; each file appears whole (temp name, then rename)."""
    folder = job_exports_dir(data_dir, meta.job_id)
    folder.mkdir(parents=True, exist_ok=True)
    for fmt in FORMATS:
        final = export_path(data_dir, meta.job_id, fmt)
        tmp = final.with_name(f".{final.name}.tmp")
        tmp.write_text(render(fmt, segments, meta), encoding="utf-8")
        os.replace(tmp, final)
    return folder
