"""Local speech recognition with faster-whisper (Whisper on CTranslate2).

A model takes seconds to load and hundreds of MB to hold, so each worker process
loads it once (``get_engine``) and reuses it for every job; CTranslate2 queues
concurrent ``generate`` calls itself, so one loaded model can serve several threads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ctranslate2  # type: ignore[import-untyped]
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel  # type: ignore[import-untyped]
from faster_whisper.utils import download_model  # type: ignore[import-untyped]

from textfromtrack.pipeline.engines.base import (
    SAMPLE_RATE,
    Audio,
    AudioInput,
    ProgressCallback,
    TranscribeOptions,
)
from textfromtrack.pipeline.engines.features import ChunkedFeatureExtractor
from textfromtrack.pipeline.models import resolve_whisper_model
from textfromtrack.pipeline.types import EngineSegment, Transcript, Word

ENGINE_NAME = "faster-whisper"

logger = logging.getLogger(__name__)

# The seed every fallback sampler's random generator starts from (DeterministicWhisper).
RANDOM_SEED = 0


def vad_parameters(options: TranscribeOptions) -> dict[str, float | int] | None:
    """Silero's settings for one attempt (a fresh dict: the batched pipeline pops a key)."""
    if not options.vad_filter:
        return None
    return {
        "threshold": options.vad_threshold,
        "min_speech_duration_ms": options.vad_min_speech_ms,
        "min_silence_duration_ms": options.vad_min_silence_ms,
        "speech_pad_ms": options.vad_speech_pad_ms,
    }


class DeterministicWhisper:
    """CTranslate2's Whisper with the temperature fallback made repeatable.

    faster-whisper re-decodes a failed window (a loop, or a very unsure one) by
    *sampling* at rising temperatures. CTranslate2 draws those samples from a
    generator that each of its worker threads seeds once, the first time it samples,
    so a long-lived worker's draws depend on every job it decoded before: the same
    stem gave lyrics WER 0.332 and 0.360 in two processes. No seed set later reaches
    a generator already made.

    So each transcription that needs the fallback samples on a sampler of its own: a
    second CTranslate2 model over the same files, made on its first fallback and
    dropped when the transcription ends. Its worker thread is new, so its generator
    starts from ``RANDOM_SEED`` and the draws depend only on this audio. Sampling is
    kept because it decodes songs better than any deterministic rung measured
    (benchmarks/lyrics.py: a beam search with a rising repetition penalty gave the
    dev songs' stems a mean WER 0.03 worse, the n-th best beam hypothesis 0.05).
    The cost is one model load (about half a second for base on CPU) per
    transcription that falls back, and its memory while that transcription runs.
    Everything else is passed through to the loaded model.
    """

    def __init__(self, inner: Any, make_sampler: Callable[[], Any]) -> None:
        self._inner = inner
        self._make_sampler = make_sampler
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextlib.contextmanager
    def transcription(self) -> Iterator[None]:
        """One transcription on this thread: its fallback samples on its own sampler."""
        self._local.sampler = None
        self._local.active = True
        try:
            yield
        finally:
            self._local.sampler = None
            self._local.active = False

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        sampling = (
            kwargs.get("sampling_topk") == 0
            and float(kwargs.get("sampling_temperature", 0.0) or 0.0) > 0
        )
        if sampling and getattr(self._local, "active", False):
            if self._local.sampler is None:
                ctranslate2.set_random_seed(RANDOM_SEED)
                self._local.sampler = self._make_sampler()
            return self._local.sampler.generate(*args, **kwargs)
        return self._inner.generate(*args, **kwargs)


def _cuda_available() -> bool:
    try:
        return int(ctranslate2.get_cuda_device_count()) > 0
    except RuntimeError:  # a CUDA driver that fails to initialise counts as none
        return False


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when CTranslate2 sees a GPU, else ``cpu``."""
    if device not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if device == "auto":
        return "cuda" if _cuda_available() else "cpu"
    return device


def resolve_compute_type(compute_type: str, device: str) -> str:
    """``auto`` is int8 on CPU (about 2x float32's speed at equal accuracy) and float16 on GPU."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


def _default_cpu_threads() -> int:
    # CTranslate2 defaults to 4 threads; on a smaller machine (or a CPU-limited
    # container) that oversubscribes the cores and slows decoding down.
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 4
    return max(1, min(cores, 4))


class FasterWhisperEngine:
    """The Engine Protocol over one loaded ``faster_whisper.WhisperModel``."""

    name: str = ENGINE_NAME

    def __init__(
        self,
        model_path_or_name: str,
        model_name: str,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        download_root: Path | None = None,
    ) -> None:
        self.model_name = model_name
        self.device = resolve_device(device)
        self.compute_type = resolve_compute_type(compute_type, self.device)
        threads = cpu_threads if cpu_threads > 0 else _default_cpu_threads()
        root = str(download_root) if download_root is not None else None
        self._model: Any = WhisperModel(
            model_path_or_name,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=threads,
            download_root=root,
        )
        # The files just loaded (a name was fetched into the cache by WhisperModel).
        files = (
            model_path_or_name
            if os.path.isdir(model_path_or_name)
            else download_model(model_path_or_name, local_files_only=True, cache_dir=root)
        )
        self._model.model = DeterministicWhisper(
            self._model.model,
            lambda: ctranslate2.models.Whisper(
                files, device=self.device, compute_type=self.compute_type, intra_threads=threads
            ),
        )
        # The same features in bounded memory (features.py): the whole-track STFT was a
        # 490 MB transient on 10 minutes. The batched pipeline and the forced aligner
        # read the model's extractor, so they get it too.
        self._model.feature_extractor = ChunkedFeatureExtractor.like(self._model.feature_extractor)
        # A thin wrapper over the same loaded model: no second copy of the weights.
        self._batched: Any = BatchedInferencePipeline(self._model)
        logger.info(
            "loaded %s from %s on %s (%s, %d CPU threads)",
            model_name,
            model_path_or_name,
            self.device,
            self.compute_type,
            threads,
        )

    def transcribe(
        self,
        audio: AudioInput | Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        # The fallback of this transcription samples on a sampler of its own.
        with self._model.model.transcription():
            return self._transcribe(audio, options, progress)

    def _transcribe(
        self,
        audio: AudioInput | Audio,
        options: TranscribeOptions,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        # Bare samples are accepted too (tests, benchmarks); a job passes an AudioInput.
        samples = np.asarray(AudioInput.of(audio).samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono audio (1-D), got shape {samples.shape}")
        common: dict[str, Any] = {
            "language": options.language,
            "task": options.task,
            "beam_size": options.beam_size,
            "temperature": list(options.temperature),
            "condition_on_previous_text": options.condition_on_previous_text,
            "no_speech_threshold": options.no_speech_threshold,
            "word_timestamps": options.word_timestamps,
            "vad_filter": options.vad_filter,
            "vad_parameters": vad_parameters(options),
            "compression_ratio_threshold": options.compression_ratio_threshold,
            "log_prob_threshold": options.log_prob_threshold,
            "initial_prompt": options.initial_prompt,
        }
        regions = options.clip_regions
        kept: float | None = None
        if regions:
            # The caller found where the voice is: decode those stretches, no detector.
            common["vad_filter"] = False
            common["vad_parameters"] = None
            kept = sum(b - a for a, b in regions)
        if options.batch_size > 0:
            # The batched pipeline cuts the audio at the voice detector's pauses into
            # chunks of up to 30 s (without it, at fixed 30 s), detects the language
            # on the voiced audio, and returns one segment per chunk with the same
            # statistics (avg_logprob, no_speech_prob, compression_ratio) and words.
            segments_iter, info = self._batched.transcribe(
                samples,
                batch_size=options.batch_size,
                clip_timestamps=_batch_clips(regions) if regions else None,
                **common,
            )
        else:
            segments_iter, info = self._model.transcribe(
                samples,
                hallucination_silence_threshold=options.hallucination_silence_threshold,
                clip_timestamps=[t for region in regions for t in region] if regions else "0",
                **common,
            )
        duration = len(samples) / SAMPLE_RATE
        segments: list[EngineSegment] = []
        done = 0.0
        try:
            # The generator is lazy: decoding happens as it is consumed, so progress
            # reported here tracks real work and an exception stops the model early.
            for seg in segments_iter:
                segments.append(_convert_segment(seg, duration))
                if progress is not None and duration > 0:
                    done = max(done, min(1.0, max(0.0, float(seg.end) / duration)))
                    progress(done)
        finally:
            # Release the decoder's state at once when a caller aborts mid-way.
            close = getattr(segments_iter, "close", None)
            if close is not None:
                close()
        # VAD drops trailing silence, so the last segment may end before the audio does.
        if progress is not None and done < 1.0:
            progress(1.0)
        return Transcript(
            language=str(info.language),
            language_probability=float(info.language_probability),
            duration_seconds=duration,
            segments=tuple(segments),
            model=self.model_name,
            engine=ENGINE_NAME,
            vad_kept_seconds=(
                kept
                if kept is not None
                else float(info.duration_after_vad)
                if options.vad_filter
                else None
            ),
        )


def _batch_clips(regions: tuple[tuple[float, float], ...]) -> list[dict[str, float]]:
    """Regions as the batched pipeline takes them: pieces of at most 30 s (it decodes
    only the first 30 s of a longer one), split evenly so no piece is a sliver."""
    out: list[dict[str, float]] = []
    for start, end in regions:
        pieces = max(1, math.ceil((end - start) / 30.0))
        step = (end - start) / pieces
        out.extend(
            {"start": start + i * step, "end": min(end, start + (i + 1) * step)}
            for i in range(pieces)
        )
    return out


def _convert_segment(seg: Any, duration: float) -> EngineSegment:
    words: list[Word] = []
    for w in seg.words or ():
        # Whisper's alignment can place the last word a few ms past the end of the audio.
        start = min(max(0.0, float(w.start)), duration)
        end = min(max(start, float(w.end)), duration)
        words.append(Word(start, end, str(w.word), float(w.probability)))
    return EngineSegment(
        start=float(seg.start),
        end=min(float(seg.end), duration),
        text=str(seg.text),
        words=tuple(words),
        avg_logprob=float(seg.avg_logprob),
        no_speech_prob=float(seg.no_speech_prob),
        compression_ratio=float(seg.compression_ratio),
    )


_engines: dict[tuple[str, str, str, Path, int], FasterWhisperEngine] = {}
_engines_lock = threading.Lock()


def get_engine(
    model: str, device: str, compute_type: str, cache_dir: Path, cpu_threads: int = 0
) -> FasterWhisperEngine:
    """The process-wide engine for these settings, loaded on first use.

    The lock is held while loading so that two jobs starting together load the
    model once instead of twice (and do not race to assemble the bundled files).
    """
    key = (model, device, compute_type, cache_dir.resolve(), cpu_threads)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            path, display = resolve_whisper_model(model, cache_dir)
            engine = FasterWhisperEngine(
                path,
                display,
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                # Downloaded models (tiny ... large-v3) live in the data dir's cache too.
                download_root=cache_dir / "huggingface",
            )
            _engines[key] = engine
        return engine
