"""`tft serve` with one test hook: an upload whose name contains "force-retry" runs on slow
fake engines whose standard attempt is poor, so the automatic retry in music mode runs
and each of its stages lasts long enough for a browser to see it. Every other upload
runs on the real models. Run as a script by tests/web/test_browser_editing.py, with
TFT_INLINE_ISOLATION=thread: the hook patches this process, so jobs must run in it."""

from __future__ import annotations

import threading
import time
from typing import Any

from textfromtrack import cli
from textfromtrack.jobs import processing
from textfromtrack.pipeline import runner
from textfromtrack.pipeline.engines.base import AudioInput, ProgressCallback, TranscribeOptions
from textfromtrack.pipeline.separation.base import SeparationProgress, StereoAudio
from textfromtrack.pipeline.types import EngineSegment, Transcript, Word

MARK = "force-retry"
STAGE_SECONDS = 2.5
_current = threading.local()


class SlowEngine:
    name = "fake-engine"

    def __init__(self, model_name: str, line: str, repeat: int) -> None:
        self.model_name, self.line, self.repeat = model_name, line, repeat

    def transcribe(
        self,
        audio: AudioInput,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        time.sleep(STAGE_SECONDS)
        duration = audio.duration_seconds
        step = duration / self.repeat
        segments = []
        for n in range(self.repeat):
            words = tuple(
                Word(n * step + i * 0.1, n * step + i * 0.1 + 0.1, f" {w}", 0.95)
                for i, w in enumerate(self.line.split())
            )
            segments.append(EngineSegment(n * step, (n + 1) * step, f" {self.line}", words, -0.2))
        return Transcript("en", 0.99, duration, tuple(segments), self.model_name, self.name)


class SlowSeparator:
    name = "fake-separator"
    sample_rate = 44_100

    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        time.sleep(STAGE_SECONDS)
        return audio


_real_plan, _real_engines = processing.job_plan, processing.engines


def job_plan(settings: Any, job: Any) -> runner.JobPlan:
    # The inline worker thread plans and then runs the same job: remember which.
    _current.forced = MARK in job.filename
    return _real_plan(settings, job)


def engines(settings: Any) -> runner.Engines:
    if not getattr(_current, "forced", False):
        return _real_engines(settings)
    return runner.Engines(
        standard=lambda: SlowEngine("fake-standard", "thank you for watching", 12),
        vintage=lambda: SlowEngine("fake-vintage", "ask not what your country can do", 1),
        separator=lambda: SlowSeparator(),
    )


processing.job_plan = job_plan
processing.engines = engines

if __name__ == "__main__":
    cli.app(["serve"])
