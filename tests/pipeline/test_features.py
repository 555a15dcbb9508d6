"""Whisper's features in pieces: the library's own values, for every length around the edges."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from textfromtrack.pipeline.engines.features import FRAMES, ChunkedFeatureExtractor

HOP = 160


LENGTHS = [1, 100, 399, 400, 401, 12_345, FRAMES * HOP - 1, FRAMES * HOP, FRAMES * HOP + 1]


# Without padding the reflection needs more than half a window (201 samples) of input.
@pytest.mark.parametrize(
    ("samples", "padding"),
    [(n, 160) for n in [*LENGTHS, 2_000_003]] + [(n, 0) for n in LENGTHS if n > 200],
)
def test_the_same_features_as_the_library(samples: int, padding: int) -> None:
    rng = np.random.default_rng(samples)
    audio = (0.1 * rng.standard_normal(samples)).astype(np.float32)
    stock = FeatureExtractor()
    expected = stock(audio, padding=padding)
    got = ChunkedFeatureExtractor.like(stock)(audio, padding=padding)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    # A piece's matrix product may round its last bit differently; nothing more.
    np.testing.assert_allclose(got, expected, rtol=0, atol=2.5e-7)


def test_it_keeps_a_models_settings_and_the_chunk_length_side_effect() -> None:
    stock = FeatureExtractor(feature_size=128)  # large-v3's 128 bands
    chunked = ChunkedFeatureExtractor.like(stock)
    assert chunked.mel_filters.shape == (128, 201)
    audio = np.zeros(16_000, dtype=np.float32)
    assert chunked(audio).shape == stock(audio).shape == (128, 101)
    chunked(audio, chunk_length=10)
    assert (chunked.n_samples, chunked.nb_max_frames) == (160_000, 1000)


def test_integer_input_is_taken_as_float() -> None:
    audio = np.arange(-800, 800, dtype=np.int16)
    stock = FeatureExtractor()
    np.testing.assert_allclose(
        ChunkedFeatureExtractor.like(stock)(audio), stock(audio), rtol=0, atol=2.5e-7
    )
