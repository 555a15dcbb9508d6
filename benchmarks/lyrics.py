"""Lyrics accuracy and speed on the dev songs: standard vs vintage vs automatic.

    .venv/bin/python benchmarks/lyrics.py [--songs all|NAME,...]
        [--variants orig,gain-1db,resampled] [--speech] [--set SETTING=VALUE ...]

Runs the job pipeline itself (separation, engines, quality check, the music
decision and the choice between attempts) without HTTP or a database, so the
numbers are the pipeline's. For every dev song (``../shared/testdata/music``, the
four JamendoLyrics songs) and every input variant it prints lyrics WER against the
reference and the real-time factor of each mode, the decision automatic mode took
and why (attempts_log's ``why``), and the seconds per stage; then the per-song and
mean figures over the variants with their spread (max - min), so that a change
smaller than the spread is not claimed.

Variants are inaudible changes to the input: ``gain-1db`` (-1 dB), ``resampled``
(44.1 kHz -> 48 kHz -> 44.1 kHz with FFmpeg's resampler). Decoding is deterministic,
so the spread is the input's, not the sampler's.

Automatic mode is derived from the standard and vintage attempts of the same run
with the runner's own rules (``decide.needs_music_mode`` then ``decide.choose``):
decoding is deterministic, so running ``runner.run`` again would decode the very same
attempts; its RTF is the standard attempt's plus the vintage one's when it retried.

``--speech`` also runs automatic mode on the shared English and Mandarin clips
(none may go to vintage) and compares the speech path's WER on the English clips
with faster-whisper's own defaults on the same model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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
from textfromtrack.jobs.processing import engines, upload_plan  # noqa: E402
from textfromtrack.media.decode import decode_audio, resample_array  # noqa: E402
from textfromtrack.media.probe import probe  # noqa: E402
from textfromtrack.pipeline import decide, line_timing, runner  # noqa: E402
from textfromtrack.pipeline.scoring import word_error_rate  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
MUSIC = TESTDATA / "music"
SONGS = (
    "jamendo_es_Fantasma_Los_Rombos",
    "jamendo_es_Guayeteo_JhoyKing",
    "jamendo_fr_Le_royaume_des_glous_glous_Raoul_de_QSM",
    "jamendo_fr_Mes_Larmes_kobzx2z",
)
VARIANTS = ("orig", "gain-1db", "resampled")
DECODING_SETTINGS = (
    "vad_threshold",
    "vad_min_silence_ms",
    "vad_min_speech_ms",
    "vad_speech_pad_ms",
    "beam_size",
    "condition_on_previous_text",
    "no_speech_threshold",
    "temperature",
    "compression_ratio_threshold",
    "log_prob_threshold",
)


def _write_flac(audio: np.ndarray, rate: int, dest: Path) -> Path:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    with av.open(str(dest), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="stereo")
        for start in range(0, pcm.shape[1], rate):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start : start + rate].T.reshape(1, -1)),
                format="s16",
                layout="stereo",
            )
            frame.sample_rate = rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dest


def variant(song: Path, name: str, folder: Path) -> Path:
    """``song`` itself, or an inaudibly changed lossless copy of it."""
    if name == "orig":
        return song
    audio = decode_audio(song, 44_100, 2)
    if name == "gain-1db":
        audio = audio * np.float32(10 ** (-1 / 20))
    elif name == "resampled":
        up = np.stack([resample_array(ch, 44_100, 48_000, 1) for ch in audio])
        audio = np.stack([resample_array(ch, 48_000, 44_100, 1) for ch in up])
    else:
        raise SystemExit(f"unknown variant {name!r}")
    return _write_flac(audio, 44_100, folder / f"{song.stem}.{name}.flac")


def _wer(reference: str, attempt: runner.Attempt, language: str | None) -> float:
    text = " ".join(s.text for s in attempt.segments)
    return round(word_error_rate(reference, text, language or attempt.transcript.language), 4)


def _attempt_facts(attempt: runner.Attempt) -> dict[str, Any]:
    m = attempt.report.metrics
    return {
        "score": round(attempt.report.score, 4),
        "reasons": list(attempt.report.reasons),
        "usable_words": round(m.get("usable_words", 0.0), 1),
        "vad_kept_share": round(m["vad_kept_share"], 3) if "vad_kept_share" in m else None,
        "voice_seconds": round(m.get("voice_seconds", 0.0), 1),
        "voice_coverage": round(m["voice_coverage"], 3) if "voice_coverage" in m else None,
        "stages": {k: round(v, 2) for k, v in attempt.stages.items()},
    }


def _dump(attempt: runner.Attempt, dest: Path) -> None:
    """The attempt's transcript and report as JSON, to study choice rules offline."""
    t = attempt.transcript
    dest.write_text(
        json.dumps(
            {
                "pipeline": attempt.pipeline,
                "language": t.language,
                "duration_seconds": t.duration_seconds,
                "vad_kept_seconds": t.vad_kept_seconds,
                "report": attempt.report.to_dict(),
                "segments": [
                    {
                        "start": s.start,
                        "end": s.end,
                        "text": s.text,
                        "avg_logprob": s.avg_logprob,
                        "no_speech_prob": s.no_speech_prob,
                        "compression_ratio": s.compression_ratio,
                        "words": [[w.start, w.end, w.text, w.probability] for w in s.words],
                    }
                    for s in t.segments
                ],
                "lines": [[s.start, s.end, s.text] for s in attempt.segments],
            },
            ensure_ascii=False,
        )
    )


def run_song(
    path: Path,
    reference: str,
    plan: runner.JobPlan,
    loaders: runner.Engines,
    language: str,
    dump: Path | None = None,
    song_name: str = "",
) -> dict[str, Any]:
    """``song_name``: the dev song's stem, whose ``.lines.csv`` the lines are timed against."""
    duration = probe(path, path.name).duration_seconds
    started = time.perf_counter()
    standard = runner.run_standard(path, loaders.standard(), plan.standard_options)
    standard_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vintage = runner.vintage_attempt(
        2,
        path,
        loaders.separator(),
        loaders.vintage(),
        plan.vintage_options,
        detector=plan.vintage_detector,
        mix_share=plan.vintage_mix_share,
    )
    vintage_seconds = time.perf_counter() - started
    if dump is not None:
        _dump(standard, dump.parent / f"{dump.name}.standard.json")
        _dump(vintage, dump.parent / f"{dump.name}.vintage.json")
    decision = decide.needs_music_mode(standard.report, plan.routing)
    attempts = [standard, vintage] if decision.retry else [standard]
    best, chosen = decide.choose([a.report for a in attempts], plan.routing.replace_margin)
    winner = attempts[best]
    wer = {
        "standard": _wer(reference, standard, language),
        "vintage": _wer(reference, vintage, language),
    }
    wer["automatic"] = wer[winner.pipeline]
    annotated = MUSIC / f"{song_name}.lines.csv"
    lines: dict[str, Any] = {}
    if annotated.is_file():
        reference_lines = line_timing.parse_annotated_lines(annotated.read_text())
        kept = runner.kept_lines(winner, music=decision.retry)
        for mode, produced in (
            ("standard", standard.segments),
            ("vintage", vintage.segments),
            ("automatic", kept),
        ):
            timing = line_timing.line_timing(line_timing.lines_of(produced), reference_lines)
            lines[mode] = {
                "median_start_error": (
                    None
                    if timing.median_start_error is None
                    else round(timing.median_start_error, 3)
                ),
                "within_0_5s": round(timing.within_half_second, 3),
                "within_1s": round(timing.within_one_second, 3),
                "line_count_ratio": round(timing.line_count_ratio, 3),
                "orphans": timing.orphans,
                "orphans_alone": timing.orphans_alone,
            }
    automatic_seconds = standard_seconds + (vintage_seconds if decision.retry else 0.0)
    return {
        "wer": wer,
        "rtf": {
            "standard": round(standard_seconds / duration, 4),
            "vintage": round(vintage_seconds / duration, 4),
            "automatic": round(automatic_seconds / duration, 4),
        },
        "automatic": {
            "retried": decision.retry,
            "why": decision.why,
            "kept": winner.pipeline,
            "choice": chosen,
        },
        "lines": lines,
        "attempts": {"standard": _attempt_facts(standard), "vintage": _attempt_facts(vintage)},
        "duration_seconds": round(duration, 2),
    }


def speech_check(
    settings: Settings, plan: runner.JobPlan, loaders: runner.Engines
) -> dict[str, Any]:
    """Automatic mode on the speech clips, and the speech path against faster-whisper's defaults."""
    clips = sorted((TESTDATA / "en").rglob("*.wav")) + sorted((TESTDATA / "en").rglob("*.flac"))
    clips += sorted((TESTDATA / "zh").glob("*.wav"))
    engine: Any = loaders.standard()
    # The loaded faster_whisper.WhisperModel under the length policy, for its own defaults.
    model = getattr(engine, "inner", engine)._model
    rows = []
    for clip in clips:
        reference = clip.with_suffix(".txt").read_text()
        language = "zh" if clip.parent.name == "zh" else "en"
        outcome = runner.run(clip, plan, loaders)
        ours = " ".join(s.text for s in outcome.segments)
        row: dict[str, Any] = {
            "clip": clip.name,
            "attempts": len(outcome.attempts),
            "kept": outcome.winner.pipeline,
            "why": outcome.why.get(1),
            "wer": round(word_error_rate(reference, ours, language), 4),
        }
        if language == "en":
            segments, _info = model.transcribe(str(clip), word_timestamps=True, vad_filter=True)
            theirs = " ".join(s.text for s in segments)
            row["wer_faster_whisper_defaults"] = round(
                word_error_rate(reference, theirs, language), 4
            )
        rows.append(row)
    english = [r for r in rows if "wer_faster_whisper_defaults" in r]
    return {
        "clips": rows,
        "went_to_vintage": [
            r["clip"] for r in rows if r["attempts"] > 1 or r["kept"] != "standard"
        ],
        "english_mean_wer": round(statistics.fmean(r["wer"] for r in english), 4)
        if english
        else None,
        "english_mean_wer_faster_whisper_defaults": (
            round(statistics.fmean(r["wer_faster_whisper_defaults"] for r in english), 4)
            if english
            else None
        ),
    }


def _summary(rows: list[dict[str, Any]], modes: list[str]) -> dict[str, Any]:
    """Per song and mean over songs: each mode's WER per variant, its mean and spread."""
    out: dict[str, Any] = {"songs": {}, "mean": {}}
    by_song: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_song.setdefault(row["song"], []).append(row)
    for song, runs in by_song.items():
        figures: dict[str, Any] = {}
        for mode in modes:
            values = [r["wer"][mode] for r in runs]
            figures[mode] = {
                "per_variant": {r["variant"]: r["wer"][mode] for r in runs},
                "mean": round(statistics.fmean(values), 4),
                "spread": round(max(values) - min(values), 4),
            }
        timed = [r["lines"]["automatic"] for r in runs if r.get("lines")]
        if timed:
            figures["lines_automatic"] = {
                key: round(statistics.fmean(t[key] for t in timed), 3)
                for key in ("median_start_error", "within_0_5s", "within_1s", "line_count_ratio")
                if all(t[key] is not None for t in timed)
            } | {
                key: round(sum(t[key] for t in timed) / len(timed), 3)
                for key in ("orphans", "orphans_alone")
            }
        best = min(figures["standard"]["mean"], figures["vintage"]["mean"])
        figures["automatic_minus_better"] = round(figures["automatic"]["mean"] - best, 4)
        out["songs"][song] = figures
    variants = sorted({r["variant"] for r in rows})
    for mode in modes:
        per_variant = {
            v: statistics.fmean(r["wer"][mode] for r in rows if r["variant"] == v) for v in variants
        }
        out["mean"][mode] = {
            "per_variant": {v: round(x, 4) for v, x in per_variant.items()},
            "mean": round(statistics.fmean(per_variant.values()), 4),
            "spread": round(max(per_variant.values()) - min(per_variant.values()), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--songs", default="all", help="all, or names (prefixes) comma-separated")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--speech", action="store_true", help="also the speech clips' check")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SETTING=VALUE", help="a Settings field"
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="model cache")
    parser.add_argument(
        "--dump", type=Path, default=None, help="folder: each attempt's transcript as JSON"
    )
    args = parser.parse_args()
    if not MUSIC.is_dir():
        print(json.dumps({"skipped": f"{MUSIC} is absent"}))
        return

    overrides = dict(item.split("=", 1) for item in args.set)
    settings = Settings(data_dir=args.data_dir, **overrides)
    plan = upload_plan(settings)
    loaders = engines(settings)
    loaders.standard()  # load the models up front so that no song pays for it
    loaders.separator()
    songs = [
        s
        for s in SONGS
        if args.songs == "all" or any(s.startswith(p) or p in s for p in args.songs.split(","))
    ]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for song in songs:
            source = MUSIC / f"{song}.mp3"
            reference = source.with_suffix(".txt").read_text()
            language = song.split("_")[1]
            for name in args.variants.split(","):
                path = variant(source, name, Path(folder))
                dump = None
                if args.dump is not None:
                    args.dump.mkdir(parents=True, exist_ok=True)
                    dump = args.dump / f"{song}.{name}"
                result = run_song(path, reference, plan, loaders, language, dump, song)
                rows.append({"song": song, "variant": name} | result)
                print(
                    json.dumps(
                        {
                            "song": song,
                            "variant": name,
                            "wer": result["wer"],
                            "automatic": result["automatic"],
                        },
                        ensure_ascii=False,
                    ),
                    file=sys.stderr,
                )
    report: dict[str, Any] = {
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "settings": {
            "standard": {k: getattr(plan.standard_options, k) for k in DECODING_SETTINGS},
            "vintage": {k: getattr(plan.vintage_options, k) for k in DECODING_SETTINGS},
            "routing": {
                "kept_share": plan.routing.kept_share,
                "min_voice_seconds": plan.routing.min_voice_seconds,
                "replace_margin": plan.routing.replace_margin,
            },
            "vintage_detector": plan.vintage_detector,
            "vintage_mix_share": plan.vintage_mix_share,
            "overrides": overrides,
        },
        "summary": _summary(rows, ["standard", "vintage", "automatic"]),
        "runs": rows,
    }
    if args.speech:
        report["speech"] = speech_check(settings, replace(plan), loaders)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
