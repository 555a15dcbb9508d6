"""Long audio: sequential vs batched decoding on a 10-minute speech track, and on songs.

    .venv/bin/python benchmarks/long_audio.py [--minutes 10] [--repeats 3] [--batch-size 4]
        [--threshold-seconds 30,60,120,240] [--songs] [--songs-vintage]

The shared test data has no 10-minute speech recording, so the track is built
here: every English clip of ``testdata/manifest.json`` that has a reference, at
16 kHz mono, with 0.6 s of silence between clips, the whole set repeated until
the track is long enough; its reference is the clips' texts in the same order.

Both modes run the standard attempt of the job pipeline (``runner.standard_attempt``:
the engine, the quality check, lines rebuilt from words) on the same samples,
alternating, so load on a shared machine hits both alike. Prints JSON: seconds
per repeat (and the median), WER, the line lengths' p50/p90, segment and line
counts, and the quality verdicts. ``--threshold-seconds`` times both modes on
the first N seconds of the track (where batching starts to pay);
``--songs`` compares them on the four JamendoLyrics songs (standard path, on the
mix) and ``--songs-vintage`` on their Spleeter vocal stems (the vintage path).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from textfromtrack.config import Settings  # noqa: E402
from textfromtrack.media.decode import decode_audio, resample_array  # noqa: E402
from textfromtrack.pipeline import quality, runner  # noqa: E402
from textfromtrack.pipeline.engines import select  # noqa: E402
from textfromtrack.pipeline.engines.base import SAMPLE_RATE, Engine, TranscribeOptions  # noqa: E402
from textfromtrack.pipeline.engines.batching import BatchPolicy  # noqa: E402
from textfromtrack.pipeline.scoring import word_error_rate  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
SONGS = (
    "jamendo_es_Fantasma_Los_Rombos",
    "jamendo_es_Guayeteo_JhoyKing",
    "jamendo_fr_Mes_Larmes_kobzx2z",
    "jamendo_fr_Le_royaume_des_glous_glous_Raoul_de_QSM",
)
GAP_SECONDS = 0.6

Audio = npt.NDArray[np.float32]


def speech_track(minutes: float) -> tuple[Audio, str, int]:
    """The concatenated English clips, their reference text, and how many clips."""
    manifest = json.loads((TESTDATA / "manifest.json").read_text())
    clips = [
        (decode_audio(TESTDATA / c["path"], SAMPLE_RATE, 1), c["reference"])
        for c in manifest
        if c["kind"] == "speech" and c["language"] == "en" and c["reference"]
    ]
    gap = np.zeros(round(GAP_SECONDS * SAMPLE_RATE), dtype=np.float32)
    parts: list[Audio] = []
    texts: list[str] = []
    total = 0
    while total < minutes * 60 * SAMPLE_RATE:
        for audio, text in clips:
            parts += [audio, gap]
            texts.append(text)
            total += len(audio) + len(gap)
    return np.concatenate(parts), " ".join(texts), len(texts)


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else 0.0


def attempt_stats(attempt: runner.Attempt, reference: str | None, language: str) -> dict[str, Any]:
    text = " ".join(s.text for s in attempt.segments)
    lengths = [s.end - s.start for s in attempt.segments]
    out: dict[str, Any] = {
        "language": attempt.transcript.language,
        "engine_segments": len(attempt.transcript.segments),
        "lines": len(attempt.segments),
        "line_seconds_p50": percentile(lengths, 50),
        "line_seconds_p90": percentile(lengths, 90),
        "line_seconds_max": round(max(lengths), 2) if lengths else 0.0,
        "words_with_timestamps": len(attempt.transcript.words),
        "quality_poor": attempt.report.poor,
        "quality_reasons": list(attempt.report.reasons),
    }
    if reference is not None:
        out["wer"] = round(word_error_rate(reference, text, language), 4)
    return out


def batched_options(options: TranscribeOptions, batch_size: int) -> TranscribeOptions:
    """What the service's length policy gives long audio: batched, cut where the
    attempt's own voice detector settings say (speech or music), as ``engines.select`` does."""
    policy = BatchPolicy(min_seconds=1, batch_size=batch_size)
    return policy.options_for(options, float("inf"))


def compare(
    audio: Audio,
    engine: Engine,
    options: TranscribeOptions,
    batched: TranscribeOptions,
    repeats: int,
    reference: str | None,
    language: str,
) -> dict[str, Any]:
    """Both modes on the same samples, alternating; the last run's transcript is scored."""
    voiced = quality.voice_seconds(audio)
    modes = {"sequential": options, "batched": batched}
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    last: dict[str, runner.Attempt] = {}
    for _ in range(repeats):
        for mode, opts in modes.items():
            started = time.perf_counter()
            last[mode] = runner.standard_attempt(1, audio, engine, opts, voiced)
            seconds[mode].append(round(time.perf_counter() - started, 2))
    result: dict[str, Any] = {}
    for mode in modes:
        result[mode] = {
            "seconds": seconds[mode],
            "median_seconds": statistics.median(seconds[mode]),
        } | attempt_stats(last[mode], reference, language)
    result["batched_over_sequential"] = round(
        result["batched"]["median_seconds"] / result["sequential"]["median_seconds"], 3
    )
    # The ratio within each alternating pair: its spread shows what load did.
    result["ratio_per_repeat"] = [
        round(b / s, 3) for s, b in zip(seconds["sequential"], seconds["batched"], strict=True)
    ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the setting's")
    parser.add_argument("--threshold-seconds", default="", help="e.g. 30,60,120,240")
    parser.add_argument("--no-track", action="store_true", help="skip the 10-minute track")
    parser.add_argument("--songs", action="store_true", help="the four songs, standard path")
    parser.add_argument("--songs-vintage", action="store_true", help="their vocal stems")
    parser.add_argument("--song-repeats", type=int, default=1)
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "data", help="model cache lives here"
    )
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir)
    batch_size = args.batch_size or settings.batched_decoding_batch_size
    # The loaded model itself, so each mode is chosen here and not by the length policy.
    engine = select._load(settings.whisper_model, settings)
    # The job's own options (speech settings on the mix, music ones on the stems).
    from textfromtrack.jobs.processing import upload_plan

    plan = upload_plan(settings, "original")
    standard, vintage = plan.standard_options, plan.vintage_options
    speech_batched = batched_options(standard, batch_size)
    report: dict[str, Any] = {
        "load_average_before": os.getloadavg(),
        "model": engine.model_name,
        "batch_size": batch_size,
        "settings": {
            "batched_decoding_min_seconds": settings.batched_decoding_min_seconds,
            "batched_decoding_batch_size": settings.batched_decoding_batch_size,
            "vintage_batched_decoding": settings.vintage_batched_decoding,
        },
    }
    track, reference, clips = speech_track(args.minutes)
    if not args.no_track:
        report["speech_track"] = {
            "seconds": round(len(track) / SAMPLE_RATE, 1),
            "clips": clips,
            "reference_words": len(reference.split()),
        } | compare(track, engine, standard, speech_batched, args.repeats, reference, "en")
    if args.threshold_seconds:
        report["by_duration"] = {}
        for seconds in (float(s) for s in args.threshold_seconds.split(",")):
            head = track[: round(seconds * SAMPLE_RATE)]
            timing = compare(head, engine, standard, speech_batched, args.repeats, None, "en")
            report["by_duration"][f"{seconds:g}"] = {
                "sequential_seconds": timing["sequential"]["seconds"],
                "batched_seconds": timing["batched"]["seconds"],
                "batched_over_sequential": timing["batched_over_sequential"],
                "ratio_per_repeat": timing["ratio_per_repeat"],
            }
    separator = None
    for key, wanted, options in (
        ("songs_standard", args.songs, standard),
        ("songs_vintage", args.songs_vintage, vintage),
    ):
        if not wanted:
            continue
        songs: dict[str, Any] = {}
        for name in SONGS:
            path = TESTDATA / "music" / f"{name}.mp3"
            lyrics = path.with_suffix(".txt").read_text()
            language = name.split("_")[1]
            if key == "songs_vintage":
                if separator is None:
                    from textfromtrack.pipeline.separation.spleeter import get_spleeter

                    separator = get_spleeter("cpu")
                stereo = decode_audio(path, separator.sample_rate, 2)
                audio = resample_array(
                    separator.separate_vocals(stereo), separator.sample_rate, SAMPLE_RATE, 1
                )
            else:
                audio = decode_audio(path, SAMPLE_RATE, 1)
            # The mixes go through the standard path's policy, the stems the vintage one's.
            song_batched = batched_options(options, batch_size)
            result = compare(
                audio, engine, options, song_batched, args.song_repeats, lyrics, language
            )
            songs[name] = {
                mode: {k: result[mode][k] for k in ("median_seconds", "wer", "lines", "language")}
                for mode in ("sequential", "batched")
            } | {"batched_over_sequential": result["batched_over_sequential"]}
        songs["mean_wer"] = {
            mode: round(statistics.mean(songs[n][mode]["wer"] for n in SONGS), 4)
            for mode in ("sequential", "batched")
        }
        report[key] = songs
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
