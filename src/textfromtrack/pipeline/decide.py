"""When a standard attempt needs the music path, and which attempt a job keeps.

Pure rules over quality reports (``quality.assess``), table-tested, and each returns
the sentence attempts_log shows, so a person can see why a job did what it did.

Why these rules (measured on the four dev songs and the shared speech clips):

- **Retry.** A poor report (loops, filler, nothing heard) always retries. So does a
  report whose voice detector passed the decoder less than ``kept_share`` of the
  voiced seconds: that is Silero, a *speech* detector, hearing instruments rather
  than a voice, and it drops the singing before Whisper sees it. The unseen songs'
  mixes kept 0.18-0.50 and passed every other check (scores 0.945-0.985), so
  automatic mode returned the mix; speech keeps 1.4-1.7 (the detector pads words
  and keeps short pauses), so the rule never sends speech to the music path.
- **Choice.** The attempt with more *usable words* (words, discounted for loops and
  filler) wins. Comparing scores picked the mix on all three unseen songs: a mix
  attempt and a stem attempt are judged against different voiced seconds, and a
  score does not penalise missing words, while a mix that lost half the song has
  half the words. Usable words were within 0.05 WER of the better attempt in 126 of
  128 song/setting pairs; the score rule missed by more than 0.05 in 86.
- **Margin.** The music-mode attempt must have ``replace_margin`` (1.2) times the
  standard one's usable words to replace it. Separation leaves artefacts (distorted
  guitars, rap over a beat) that the recogniser turns into wrong words, which a count
  cannot see; two decodes that heard the same song differ by about a tenth in count
  (the dev songs over inaudible variants), while a mix whose detector dropped the
  singing has a fraction of the stem's words. On the dev songs the stem had 4.4x and
  5.4x the mix's usable words where it was better by 0.3-0.5 WER, and 1.08x and 0.61x
  where the mix was better by 0.05-0.13.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textfromtrack.pipeline.quality import QualityReport


@dataclass(frozen=True)
class RoutingRule:
    # Below this share of the voiced seconds kept by the voice detector, the standard
    # attempt is music the detector failed on; 0 turns the rule off.
    kept_share: float = 0.7
    # ... judged only over this much voice (a short clip is one or two phrases).
    min_voice_seconds: float = 30.0
    # The music-mode attempt replaces the standard one only with this many times its
    # usable words: separation leaves artefacts that become wrong words, which a count
    # does not see, so near-equal counts keep the mix (see the module docstring).
    replace_margin: float = 1.2


DEFAULT_RULE = RoutingRule()


@dataclass(frozen=True)
class Decision:
    retry: bool
    why: str


def needs_music_mode(report: QualityReport, rule: RoutingRule = DEFAULT_RULE) -> Decision:
    """Whether a standard attempt with this report goes on to the vintage attempt."""
    if report.poor:
        return Decision(True, "poor (" + ", ".join(report.reasons) + ")")
    share = report.metrics.get("vad_kept_share")
    voice = report.metrics.get("voice_seconds", 0.0)
    if share is not None and rule.kept_share > 0 and voice >= rule.min_voice_seconds:
        if share < rule.kept_share:
            return Decision(
                True,
                f"music: the voice detector kept {share:.2f} of {voice:.0f} voiced seconds "
                f"(below {rule.kept_share:.2f})",
            )
        return Decision(False, f"passed; the voice detector kept {share:.2f} of the voiced seconds")
    return Decision(False, "passed")


def usable_words(report: QualityReport) -> float:
    return report.metrics.get("usable_words", 0.0)


def choose(
    reports: Sequence[QualityReport], margin: float = DEFAULT_RULE.replace_margin
) -> tuple[int, str]:
    """Index of the attempt to keep, and why: a later attempt replaces the one kept so
    far only with ``margin`` times its usable words or more (ties: the earlier one)."""
    if not reports:
        raise ValueError("no reports to choose from")
    best = 0
    for i in range(1, len(reports)):
        if usable_words(reports[i]) > usable_words(reports[best]) * margin + 1e-9:
            best = i
    if len(reports) == 1:
        return best, "the only attempt"
    others = ", ".join(f"{usable_words(r):.0f}" for i, r in enumerate(reports) if i != best)
    if best == 0:
        return best, (
            f"usable words: {usable_words(reports[0]):.0f} against {others} "
            f"(music mode must have {margin:g}x to replace it)"
        )
    return best, f"most usable words: {usable_words(reports[best]):.0f} against {others}"


# With the user's lyrics, an earlier attempt (on the mix) is aligned on instead of the
# last (music mode's, on the vocal stem) only when it heard this many times as many of
# the user's words: the stem is worth more than a few more anchors.
LYRICS_STEM_ODDS = 2.0


def choose_for_lyrics(heard: Sequence[int]) -> tuple[int, str]:
    """With the user's lyrics, the attempt to align (``heard``: how many of the user's
    words each decode anchors, one count per attempt, standard first).

    The output text is the user's, so transcription quality is beside the point: what
    places the words is where the decode heard them and where the voice is. The last
    attempt is music mode's, on the vocal stem, whose silences tell where the voice is
    not: the unanchored words are spread over the voiced stretches only, no word is
    timed across a long silence, and forced alignment is held near those estimates. On
    a mix the accompaniment makes every stretch look voiced, so none of that holds. So
    the stem's attempt is kept unless another heard LYRICS_STEM_ODDS times as many
    words. On the dev songs (benchmarks/alignment.py, hybrid, this machine) the mix
    heard 11 and the stem 65 of 88 words (Fantasma, 1.82 against 0.45 s), 5 and 199 of
    340 (Guayeteo, 0.19 against 0.23 s), 113 and 110 of 202 (Le royaume, 2.07 against
    0.31 s), 197 and 214 of 388 (Mes Larmes, 0.24 against 0.27 s): the stem is never
    0.04 s worse, and choosing by the count alone took the mix for Le royaume.
    """
    if not heard:
        raise ValueError("no attempts to choose from")
    last = len(heard) - 1
    if len(heard) == 1:
        return last, "the only attempt"
    rival = max(range(last), key=lambda i: (heard[i], i))
    best = rival if heard[rival] >= LYRICS_STEM_ODDS * max(heard[last], 1) else last
    others = ", ".join(str(n) for i, n in enumerate(heard) if i != best)
    return best, f"lyric words heard: {heard[best]} against {others} (the lyrics are aligned on it)"
