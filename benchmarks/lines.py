"""Lyric lines against the dev set's annotated lines: today's splitter vs SPEECH vs SUNG.

    .venv/bin/python benchmarks/lines.py [--refresh] [--cache DIR] [--data-dir DIR]
        [--songs SUBSTRING,...] [--decode-only]

Word timings come from the job pipeline itself (runner.run): the vintage plan
(Spleeter vocal stem, then the vintage model with the vintage options) and the
standard plan (the mix, standard options, no retry), once per song, cached as JSON
under --cache (default /tmp/tft-lines-cache) so the splitter can be tuned without
decoding again; --refresh decodes again. The annotated words (.words.csv timings,
.words.txt text) are scored too: the splitter's rule on perfect word timings.

Prints JSON: per source (vintage, mix, annotated) and policy, every song's
line_timing metrics and their mean over the songs. Policies: "speech" is today's
splitter (the SPEECH policy is it, unchanged: the "before"), "sung" the SUNG policy,
and "ceiling" every word as its own line: the best share within 1 s that any
splitter could reach on those words (a line the recogniser never heard is lost).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from textfromtrack.pipeline import line_timing as lt  # noqa: E402
from textfromtrack.pipeline.lines import SPEECH, SUNG, segments_from_words  # noqa: E402
from textfromtrack.pipeline.types import Segment, Word  # noqa: E402

MUSIC = ROOT.parent / "shared" / "testdata" / "music"
# Outside the checkout: decoded words are scratch, not project files.
CACHE = Path(tempfile.gettempdir()) / "tft-lines-cache"
SOURCES = ("vintage", "mix")
METRICS = (
    "median_start_error",
    "within_half_second",
    "within_one_second",
    "line_count_ratio",
    "orphans",
    "orphans_alone",
)


def songs(music: Path = MUSIC) -> list[Path]:
    """The dev set: every full jamendo song with annotated lines (excerpts have none)."""
    return sorted(p for p in music.glob("jamendo_*.mp3") if p.with_suffix(".lines.csv").exists())


def _cache_file(cache: Path, song: Path, source: str) -> Path:
    return cache / f"{song.stem}.{source}.json"


def decode(song_paths: list[Path], cache: Path, data_dir: Path) -> None:
    """Runs the pipeline once per song and plan and writes the words it timed."""
    from textfromtrack.config import Settings
    from textfromtrack.jobs.processing import engines, upload_plan
    from textfromtrack.pipeline import runner

    settings = Settings(data_dir=data_dir)
    plan = upload_plan(settings, "original")
    loaders = engines(settings)
    plans = {
        "vintage": replace(plan, vintage=True, retry_when_poor=False),
        "mix": replace(plan, vintage=False, retry_when_poor=False),
    }
    cache.mkdir(parents=True, exist_ok=True)
    for song in song_paths:
        for source, source_plan in plans.items():
            started = time.perf_counter()
            outcome = runner.run(song, source_plan, loaders)
            transcript = outcome.winner.transcript
            record = {
                "song": song.name,
                "source": source,
                "language": transcript.language,
                "model": transcript.model,
                "separator": outcome.winner.separator,
                "seconds": round(time.perf_counter() - started, 2),
                "words": [asdict(w) for w in transcript.words],
            }
            _cache_file(cache, song, source).write_text(json.dumps(record, ensure_ascii=False))
            print(f"{song.name} {source}: {len(transcript.words)} words", file=sys.stderr)


def cached_words(cache: Path, song: Path, source: str) -> list[Word]:
    record = json.loads(_cache_file(cache, song, source).read_text())
    return [Word(**w) for w in record["words"]]


def annotated_words(song: Path) -> list[Word]:
    """The annotation's own words: .words.csv timings, .words.txt text, in order."""
    with song.with_suffix(".words.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    texts = song.with_suffix(".words.txt").read_text().split()
    if len(rows) != len(texts):
        raise ValueError(f"{song.name}: {len(rows)} timings for {len(texts)} words")
    return [
        Word(float(r["word_start"]), float(r["word_end"]), f" {t}")
        for r, t in zip(rows, texts, strict=True)
    ]


def _every_word(words: list[Word]) -> list[Segment]:
    kept = [w for w in words if w.text.strip()]
    return [Segment(i, w.start, w.end, w.text.strip(), (w,)) for i, w in enumerate(kept)]


POLICIES = {
    "speech": lambda words: segments_from_words(words, SPEECH),
    "sung": lambda words: segments_from_words(words, SUNG),
    "ceiling": _every_word,
}


def _rounded(timing: lt.LineTiming) -> dict[str, Any]:
    out = asdict(timing)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def _mean(rows: list[lt.LineTiming]) -> dict[str, float]:
    """Mean over songs (a song with nothing matched counts its median as missing); orphans
    summed."""
    out: dict[str, float] = {}
    for key in METRICS:
        values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
        out[key] = round(sum(values) / len(values), 3) if values else float("nan")
    # Orphans are counted, not averaged: the target is none on any song.
    out["orphans"] = sum(r.orphans for r in rows)
    out["orphans_alone"] = sum(r.orphans_alone for r in rows)
    out["songs_meeting_targets"] = sum(r.meets_targets() for r in rows)
    return out


def report(chosen: list[Path], cache: Path) -> dict[str, Any]:
    annotated = {
        s: lt.parse_annotated_lines(s.with_suffix(".lines.csv").read_text()) for s in chosen
    }
    words = {(s, src): cached_words(cache, s, src) for s in chosen for src in SOURCES}
    words |= {(s, "annotated"): annotated_words(s) for s in chosen}
    out: dict[str, Any] = {}
    for source in (*SOURCES, "annotated"):
        by_policy: dict[str, Any] = {}
        for name, split in POLICIES.items():
            rows = [
                lt.line_timing(lt.lines_of(split(words[s, source])), annotated[s]) for s in chosen
            ]
            by_policy[name] = {
                "songs": {s.stem: _rounded(r) for s, r in zip(chosen, rows, strict=True)},
                "mean": _mean(rows),
            }
        out[source] = by_policy
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--refresh", action="store_true", help="decode the songs again")
    parser.add_argument("--decode-only", action="store_true")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--data-dir", type=Path, default=CACHE / "data", help="model cache")
    parser.add_argument("--songs", default="", help="comma-separated name substrings")
    args = parser.parse_args()
    chosen = [
        s for s in songs() if not args.songs or any(k in s.name for k in args.songs.split(","))
    ]
    missing = [
        s for s in chosen if not all(_cache_file(args.cache, s, src).exists() for src in SOURCES)
    ]
    todo = chosen if args.refresh else missing
    if todo:
        decode(todo, args.cache, args.data_dir)
    if args.decode_only:
        return
    print(json.dumps(report(chosen, args.cache), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
