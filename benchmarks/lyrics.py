"""Lyrics accuracy and speed on the shared song: standard vs vintage vs automatic.

    .venv/bin/python benchmarks/lyrics.py [--audio PATH] [--modes standard,vintage,automatic]
        [--repeats 1] [--loop-to SECONDS]
        [--vad-threshold 0.35] [--vintage-vad-threshold 0.35] [--condition-vintage/--no-...]

Runs the job pipeline itself (separation, engines, quality check, retry) without
HTTP or a database, so the numbers are the pipeline's. Prints JSON per mode: lyrics
WER against the reference, real-time factor (seconds per second of audio), the
seconds per stage (decode, separate, recognise, postprocess: summed over the
attempts, from their attempts_log entries, each also as a share of the audio's
duration), the attempts with their quality verdicts, and the settings used.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from textfromtrack.config import Settings  # noqa: E402
from textfromtrack.jobs.processing import engines  # noqa: E402
from textfromtrack.media.decode import decode_audio  # noqa: E402
from textfromtrack.media.probe import probe  # noqa: E402
from textfromtrack.pipeline import runner  # noqa: E402
from textfromtrack.pipeline.engines.base import TranscribeOptions  # noqa: E402
from textfromtrack.pipeline.scoring import word_error_rate  # noqa: E402

LOG_KEYS = ("pipeline", "separator", "seconds", "stages", "verdict")

SONG = ROOT.parent / "shared" / "testdata" / "music" / "jamendo_es_Fantasma_Los_Rombos.mp3"


# The decoding settings tuned for sung vocals, printed beside the figures they gave.
DECODING_SETTINGS = (
    "vad_filter",
    "vad_threshold",
    "beam_size",
    "condition_on_previous_text",
    "no_speech_threshold",
    "temperature",
)


def _decoding(options: TranscribeOptions) -> dict[str, Any]:
    return {k: getattr(options, k) for k in DECODING_SETTINGS}


def _looped(source: Path, seconds: float, dest: Path) -> Path:
    """``source`` repeated and cut to ``seconds``, 44.1 kHz stereo FLAC (lossless)."""
    audio = decode_audio(source, 44_100, 2)
    reps = math.ceil(seconds * 44_100 / audio.shape[1])
    pcm = (np.clip(np.tile(audio, (1, reps))[:, : round(seconds * 44_100)], -1, 1) * 32767).astype(
        np.int16
    )
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("flac", rate=44_100, layout="stereo")
        for start in range(0, pcm.shape[1], 44_100):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start : start + 44_100].T.reshape(1, -1)),
                format="s16",
                layout="stereo",
            )
            frame.sample_rate = 44_100
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--audio", type=Path, default=SONG)
    parser.add_argument("--reference", type=Path, help="lyrics text (default: the audio's .txt)")
    parser.add_argument("--language", default=None, help="skip detection (e.g. es)")
    parser.add_argument(
        "--modes", default="standard,vintage,automatic", help="also: vintage-original"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of every mode, alternating")
    parser.add_argument("--vad-threshold", type=float, default=None)
    parser.add_argument("--vintage-vad-threshold", type=float, default=None)
    parser.add_argument("--no-vad", action="store_true", help="decode without voice detection")
    parser.add_argument("--beam-size", type=int, default=None)
    parser.add_argument("--no-speech-threshold", type=float, default=None)
    parser.add_argument("--condition-vintage", choices=["on", "off"], default=None)
    parser.add_argument("--condition-standard", choices=["on", "off"], default=None)
    parser.add_argument("--no-temperature-fallback", action="store_true")
    parser.add_argument(
        "--loop-to",
        type=float,
        default=None,
        help="seconds: play the song over and over to this length (e.g. 600, the upload "
        "limit) to see memory and speed on a long track; the lyrics repeat likewise",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "data", help="model cache lives here"
    )
    args = parser.parse_args()

    reference = (args.reference or args.audio.with_suffix(".txt")).read_text()
    if args.loop_to:
        loops = math.ceil(args.loop_to / probe(args.audio, args.audio.name).duration_seconds)
        args.audio = _looped(args.audio, args.loop_to, Path(tempfile.mkdtemp()) / "looped.flac")
        reference = "\n".join([reference] * loops)
    duration = probe(args.audio, args.audio.name).duration_seconds
    overrides = {
        k: v
        for k, v in {
            "vad_threshold": args.vad_threshold,
            "vintage_vad_threshold": args.vintage_vad_threshold,
        }.items()
        if v is not None
    }
    settings = Settings(data_dir=args.data_dir, **overrides)

    def tuned(options: TranscribeOptions, condition: str | None) -> TranscribeOptions:
        changes: dict[str, object] = {"language": args.language}
        if args.no_vad:
            changes["vad_filter"] = False
        if args.beam_size is not None:
            changes["beam_size"] = args.beam_size
        if args.no_speech_threshold is not None:
            changes["no_speech_threshold"] = args.no_speech_threshold
        if condition is not None:
            changes["condition_on_previous_text"] = condition == "on"
        if args.no_temperature_fallback:
            changes["temperature"] = (0.0,)
        return replace(options, **changes)  # type: ignore[arg-type]

    from textfromtrack.jobs.processing import job_plan

    class _Job:  # the fields job_plan reads
        language_requested = args.language
        vintage = False
        pinyin = False
        chinese_script = "original"
        task = None  # OpenAI-surface fields: the defaults
        prompt = None
        temperature = None

    base_plan = job_plan(settings, _Job())  # type: ignore[arg-type]
    base_plan = replace(
        base_plan,
        standard_options=tuned(base_plan.standard_options, args.condition_standard),
        vintage_options=tuned(base_plan.vintage_options, args.condition_vintage),
    )
    loaders = engines(settings)
    loaders.standard()  # load models up front so no mode pays for it
    loaders.separator()
    # "vintage-original": the vintage pipeline on Spleeter computed as it first was
    # (transposed convs, float32, one batch per block in the job's thread), for a
    # before/after in one run.
    from textfromtrack.pipeline.separation.spleeter import SpleeterSeparator

    original = SpleeterSeparator(workers=0, phase_convs=False, bf16=False)
    with_original = replace(loaders, separator=lambda: original)
    results = []
    for repeat, mode in itertools.product(range(args.repeats), args.modes.split(",")):
        plan = replace(
            base_plan,
            vintage=mode.startswith("vintage"),
            retry_when_poor=mode == "automatic",
        )
        started = time.perf_counter()
        outcome = runner.run(
            args.audio, plan, with_original if mode == "vintage-original" else loaders
        )
        seconds = time.perf_counter() - started
        text = " ".join(s.text for s in outcome.segments)
        stages = {
            name: round(sum(a["stages"].get(name, 0.0) for a in outcome.attempts_log), 3)
            for name in runner.STAGES
        }
        results.append(
            {
                "mode": mode,
                "repeat": repeat,
                "wer": round(
                    word_error_rate(
                        reference, text, args.language or outcome.winner.transcript.language
                    ),
                    4,
                ),
                "rtf": round(seconds / duration, 4),
                "seconds": round(seconds, 2),
                "stages": stages,
                "stages_rtf": {k: round(v / duration, 4) for k, v in stages.items()},
                "language": outcome.winner.transcript.language,
                "model": outcome.winner.transcript.model,
                "degraded": outcome.degraded,
                "attempts": [
                    {k: a[k] for k in LOG_KEYS}
                    | {"score": a["quality"]["score"], "reasons": a["quality"]["reasons"]}
                    for a in outcome.attempts_log
                ],
                "words": len(text.split()),
                "text_start": text[:160],
            }
        )
    print(
        json.dumps(
            {
                "audio": args.audio.name,
                "load_average": os.getloadavg(),
                # Peak resident memory of this whole run (models included), in MB.
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "duration_seconds": round(duration, 2),
                "settings": {
                    "standard": _decoding(base_plan.standard_options),
                    "vintage": _decoding(base_plan.vintage_options),
                },
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
