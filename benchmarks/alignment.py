"""Known-lyrics alignment on the JamendoLyrics development songs: every method, every song.

    .venv/bin/python benchmarks/alignment.py [--methods text,forced,sequential,hybrid]
        [--songs PATTERN] [--detector silero|energy] [--attempt vintage|standard|automatic]
        [--samples stem|mix] [--cache /tmp/tft-align-cache] [--no-cache]

For each song (../shared/testdata/music/jamendo_*.mp3, with its .txt lyrics and its
.words.csv reference word times) this runs what a music-mode job with ``lyrics`` runs:
the job's vintage attempt (the separator in use, then the vintage model on the vocal
stem, with the job's decoding settings and the voice detector of a job with lyrics,
``TFT_ALIGNMENT_VOICE_DETECTOR`` or ``--detector``), then the alignment of the given
lyrics to that attempt's words, by each method of ``pipeline.alignment``:

- ``text``: text-to-text alignment of the decode to the lyrics, interpolated between
  anchors over the stem's voiced stretches;
- ``forced``: that, then Whisper's forced alignment (CTranslate2 ``align``) of the
  lyrics in windows around the estimated lines;
- ``sequential``: forced alignment window after window through the song, each given
  more words than it can hold and keeping those placed well inside it;
- ``hybrid``: runs of three or more anchors kept, sequential forced alignment between them.

Prints JSON: per song and method the word onset mean absolute error in seconds (the
JamendoLyrics alignment metric), the share of onsets within 0.3 s, the share of words
anchored, whether every reference word was kept and timed, and the real-time factors
(of the alignment step alone, and of separation + decode + alignment); then the mean
of each over the four songs. ``--attempt standard`` aligns on a standard attempt
instead (the standard model on the mix, as when a lyrics job keeps its first attempt),
and ``--samples`` says what audio the aligner is given (by default what the job gives
it: the stem for a vintage attempt, the mix for a standard one). ``--attempt automatic``
runs both and aligns the one a lyrics job keeps (``decide.choose_for_lyrics``: the
stem's, unless the mix heard twice as many of the lyrics' words), as when the first
attempt is retried in music mode, which every dev song's mix is (its detector keeps
under 0.7). Stems and attempts
are cached (``--cache``, keyed by the decoding settings) so that tuning the alignment
re-runs no model but the aligner's; after a change to the engine itself, use a fresh
``--cache`` folder (or ``--no-cache``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from textfromtrack.config import Settings  # noqa: E402
from textfromtrack.jobs.processing import engines, job_plan  # noqa: E402
from textfromtrack.media.decode import decode_audio  # noqa: E402
from textfromtrack.pipeline import alignment, decide, quality, runner  # noqa: E402
from textfromtrack.pipeline.engines.base import SAMPLE_RATE, AudioInput  # noqa: E402
from textfromtrack.pipeline.separation.stem import vocal_stem  # noqa: E402
from textfromtrack.pipeline.types import Word  # noqa: E402

MUSIC = ROOT.parent / "shared" / "testdata" / "music"
METHODS = alignment.METHODS
WITHIN_SECONDS = 0.3


def reference_onsets(song: Path) -> list[float]:
    with song.with_suffix(".words.csv").open() as fh:
        return [float(row["word_start"]) for row in csv.DictReader(fh)]


class _Job:  # the fields job_plan reads: a music-mode job with lyrics
    language_requested = None
    vintage = True
    pinyin = False
    chinese_script = "original"
    task = None
    prompt = None
    temperature = None
    lyrics = "(the song's lyrics)"  # given: the plan's stem detector is the alignment one


class _CachedStem:
    """A separator that hands back a stem already separated (at 16 kHz, mono)."""

    name = "cached"
    sample_rate = SAMPLE_RATE

    def __init__(self, stem: np.ndarray, name: str) -> None:
        self.stem, self.name = stem, name

    def separate_vocals(self, audio: np.ndarray, progress: Any = None) -> np.ndarray:
        return self.stem


class Songs:
    """Stems and the job's vintage attempts per song, computed once and kept under ``cache``."""

    def __init__(self, settings: Settings, cache: Path | None) -> None:
        self.cache = cache
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
        self.loaders = engines(settings)
        self.plan = job_plan(settings, _Job())  # type: ignore[arg-type]
        self.detector = runner.stem_detector(self.plan)
        key = repr((self.plan.vintage_options, self.detector)).encode()
        self.options_key = hashlib.sha256(key).hexdigest()[:10]
        standard_key = repr(self.plan.standard_options).encode()
        self.standard_key = hashlib.sha256(standard_key).hexdigest()[:10]
        self._engine: Any = None
        self._standard: Any = None
        self._separator: Any = None

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = self.loaders.vintage()
        return self._engine

    @property
    def standard_engine(self) -> Any:
        if self._standard is None:
            self._standard = self.loaders.standard()
        return self._standard

    def _cached(self, name: str) -> Path | None:
        return self.cache / name if self.cache is not None else None

    def stem(self, song: Path) -> tuple[np.ndarray, float, str]:
        path, meta = self._cached(f"{song.stem}.stem.npy"), self._cached(f"{song.stem}.stem.json")
        if path is not None and meta is not None and path.exists() and meta.exists():
            facts = json.loads(meta.read_text())
            return np.load(path), float(facts["seconds"]), str(facts["separator"])
        if self._separator is None:
            self._separator = self.loaders.separator()
        started = time.perf_counter()
        stem = vocal_stem(self._separator, song).samples
        seconds = time.perf_counter() - started
        if path is not None and meta is not None:
            np.save(path, stem.astype(np.float32))
            meta.write_text(json.dumps({"seconds": seconds, "separator": self._separator.name}))
        return stem, seconds, str(self._separator.name)

    def attempt(self, song: Path, stem: np.ndarray, separator: str) -> dict[str, Any]:
        """The job's vintage attempt on ``song`` (its stem given), as words and seconds."""
        path = self._cached(f"{song.stem}.attempt-{self.options_key}.json")
        if path is not None and path.exists():
            return dict(json.loads(path.read_text()))
        attempt = runner.vintage_attempt(
            1,
            song,
            _CachedStem(stem, separator),
            self.engine,
            self.plan.vintage_options,
            detector=self.detector,
        )
        return self._keep(path, attempt, self.detector)

    def standard_attempt(self, song: Path) -> dict[str, Any]:
        """The job's standard attempt on ``song``'s mix, as words and seconds."""
        path = self._cached(f"{song.stem}.standard-{self.standard_key}.json")
        if path is not None and path.exists():
            return dict(json.loads(path.read_text()))
        source = AudioInput(song)
        voiced = quality.voice_seconds(source.samples)
        attempt = runner.standard_attempt(
            1, source, self.standard_engine, self.plan.standard_options, voiced
        )
        return self._keep(path, attempt, "silero")

    @staticmethod
    def _keep(path: Path | None, attempt: Any, detector: str) -> dict[str, Any]:
        transcript = attempt.transcript
        found = {
            "seconds": attempt.stages.get("recognise", attempt.seconds),
            "language": transcript.language,
            "model": transcript.model,
            "detector": detector,
            "words": [[w.start, w.end, w.text, w.probability] for w in transcript.words],
        }
        if path is not None:
            path.write_text(json.dumps(found, ensure_ascii=False))
        return found


def run_song(songs: Songs, song: Path, methods: list[str], which: str, on: str) -> dict[str, Any]:
    lyrics = song.with_suffix(".txt").read_text(encoding="utf-8")
    reference = reference_onsets(song)
    stem, separate_seconds, separator = songs.stem(song)
    duration = len(stem) / SAMPLE_RATE
    out: dict[str, Any] = {"song": song.stem, "duration_seconds": round(duration, 2)}
    if which == "automatic":
        # Both attempts, and the job's choice between them for a lyrics job.
        decodes = [songs.standard_attempt(song), songs.attempt(song, stem, separator)]
        heard = [
            alignment.lyric_words_heard(lyrics, [Word(*w) for w in d["words"]]) for d in decodes
        ]
        best, why = decide.choose_for_lyrics(heard)
        which = ("standard", "vintage")[best]
        on = "stem" if which == "vintage" else "mix"
        out |= {"kept": which, "why": why}
        decode = decodes[best]
    elif which == "standard":
        decode = songs.standard_attempt(song)
    else:
        decode = songs.attempt(song, stem, separator)
    engine = songs.standard_engine if which == "standard" else songs.engine
    samples = stem if on == "stem" else decode_audio(song, SAMPLE_RATE, 1)
    if on == "mix":
        separate_seconds = 0.0
    words = [Word(*w) for w in decode["words"]]
    for method in methods:
        started = time.perf_counter()
        aligned = alignment.align(
            lyrics,
            words,
            duration,
            samples=samples,
            aligner=alignment.forced_aligner_of(engine),
            language=decode["language"],
            method=method,
        )
        align_seconds = time.perf_counter() - started
        onsets = [w.start for s in aligned.segments for w in s.words]
        timed = all(0 <= w.start <= w.end <= duration for s in aligned.segments for w in s.words)
        kept = len(onsets) == len(reference) and timed
        count = min(len(onsets), len(reference))
        errors = np.abs(np.array(onsets[:count]) - np.array(reference[:count]))
        out[method] = {
            "onset_mae": round(float(errors.mean()), 3),
            "within_0_3s": round(float((errors <= WITHIN_SECONDS).mean()), 3),
            "anchored": aligned.anchored_share,
            "words": len(onsets),
            "reference_words": len(reference),
            "all_kept": kept,
            "align_rtf": round(align_seconds / duration, 4),
            "pipeline_rtf": round(
                (separate_seconds + float(decode["seconds"]) + align_seconds) / duration, 4
            ),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--songs", default="jamendo_*.mp3", help="glob in the music folder")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "tft-align-cache"
    )
    parser.add_argument("--no-cache", action="store_true", help="compute stems and decodes")
    parser.add_argument(
        "--detector",
        choices=["silero", "energy"],
        default=None,
        help="TFT_ALIGNMENT_VOICE_DETECTOR",
    )
    parser.add_argument(
        "--attempt", choices=["vintage", "standard", "automatic"], default="vintage"
    )
    parser.add_argument(
        "--samples", choices=["stem", "mix"], default=None, help="the aligner's audio"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "data", help="model cache lives here"
    )
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
    songs_found = sorted(
        p for p in MUSIC.glob(args.songs) if ".excerpt" not in p.name and p.suffix == ".mp3"
    )
    if not songs_found:
        parser.error(f"no songs match {args.songs} in {MUSIC}")
    overrides = {"alignment_voice_detector": args.detector} if args.detector else {}
    settings = Settings(data_dir=args.data_dir, **overrides)
    songs = Songs(settings, None if args.no_cache else args.cache)
    on = args.samples or ("mix" if args.attempt == "standard" else "stem")
    per_song = [run_song(songs, song, methods, args.attempt, on) for song in songs_found]
    keys = ("onset_mae", "within_0_3s", "anchored", "align_rtf", "pipeline_rtf")
    mean = {
        m: {k: round(float(np.mean([s[m][k] for s in per_song])), 4) for k in keys}
        | {"all_kept": all(s[m]["all_kept"] for s in per_song)}
        for m in methods
    }
    print(
        json.dumps(
            {
                "load_average": os.getloadavg(),
                "attempt": args.attempt,
                "samples": on,
                "model": (
                    songs.standard_engine if args.attempt == "standard" else songs.engine
                ).model_name,
                "detector": songs.detector if args.attempt != "standard" else "silero",
                "songs": per_song,
                "mean": mean,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
