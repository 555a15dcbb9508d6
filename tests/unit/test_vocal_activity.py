"""Sung regions from a vocal stem's energy (``pipeline.vocal_activity``), as tables."""

from __future__ import annotations

import numpy as np
import pytest

from textfromtrack.pipeline.vocal_activity import ActivityOptions, regions_from_mask, sung_regions

FRAME = 0.03


def mask(*runs: tuple[float, float], seconds: float = 20.0) -> np.ndarray:
    """Voiced frames over ``seconds`` from (start, end) runs in seconds."""
    out = np.zeros(round(seconds / FRAME), dtype=np.bool_)
    for a, b in runs:
        out[round(a / FRAME) : round(b / FRAME)] = True
    return out


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ((), []),
        # One phrase, padded by 0.4 s on each side.
        (((2.0, 5.0),), [(1.6, 5.4)]),
        # A breath (0.6 s) inside a phrase is bridged ...
        (((2.0, 5.0), (5.6, 8.0)), [(1.6, 8.4)]),
        # ... an instrumental break (3 s) is not.
        (((2.0, 5.0), (8.0, 10.0)), [(1.6, 5.4), (7.6, 10.4)]),
        # A gap of 0.99 s is bridged, 1.2 s is not; padding that meets joins regions.
        (((2.0, 3.0), (3.99, 5.0)), [(1.6, 5.4)]),
        (((2.0, 3.0), (4.2, 5.0)), [(1.6, 3.4), (3.8, 5.4)]),
        (((2.0, 3.0), (3.5, 5.0), (5.7, 6.0)), [(1.6, 6.4)]),
        # Blips under 0.25 s are leakage, not singing.
        (((2.0, 2.15), (8.0, 9.0)), [(7.6, 9.4)]),
        # Padding stops at the edges of the audio.
        (((0.0, 1.0), (19.5, 20.0)), [(0.0, 1.4), (19.1, 20.0)]),
    ],
)
def test_regions_from_mask(
    runs: tuple[tuple[float, float], ...], expected: list[tuple[float, float]]
) -> None:
    got = regions_from_mask(mask(*runs), FRAME, 20.0)
    assert len(got) == len(expected)
    for (a, b), (x, y) in zip(got, expected, strict=True):
        assert a == pytest.approx(x, abs=FRAME) and b == pytest.approx(y, abs=FRAME)


def test_the_options_are_honoured() -> None:
    tight = ActivityOptions(min_silence_seconds=0.3, min_active_seconds=0.1, pad_seconds=0.0)
    got = regions_from_mask(mask((2.0, 5.0), (5.6, 8.0)), FRAME, 20.0, tight)
    assert [(round(a, 1), round(b, 1)) for a, b in got] == [(2.0, 5.0), (5.6, 8.0)]


def test_sung_regions_on_audio() -> None:
    """Two sung phrases (a vowel-like harmonic tone in the voice band) over a stem's
    leakage (quiet noise), 4 s apart: two regions, where the phrases are."""
    rate = 16_000
    rng = np.random.default_rng(7)
    t = np.arange(12 * rate) / rate
    stem = 0.003 * rng.standard_normal(t.size)
    for a, b in ((1.0, 4.0), (8.0, 11.0)):
        part = (t >= a) & (t < b)
        stem[part] += 0.3 * (
            np.sin(2 * np.pi * 440 * t[part]) + 0.5 * np.sin(2 * np.pi * 880 * t[part])
        )
    got = sung_regions(stem.astype(np.float32), rate)
    assert len(got) == 2
    (a0, b0), (a1, b1) = got
    assert a0 == pytest.approx(0.6, abs=0.1) and b0 == pytest.approx(4.4, abs=0.1)
    assert a1 == pytest.approx(7.6, abs=0.1) and b1 == pytest.approx(11.4, abs=0.1)


def test_silence_has_no_regions() -> None:
    assert sung_regions(np.zeros(16_000 * 5, dtype=np.float32)) == []
