"""Handwritten-digit classifier: the smallest convolutional model worth proving.

scikit-learn's bundled ``load_digits`` (1797 images, 8x8, pixel values 0..16) needs no
download, so training is offline and reproducible. The network is deliberately tiny
(one 3x3 convolution with 4 channels, a ReLU and a linear head): every op maps to a
cheap ezkl layout, and there is no BatchNorm, MaxPool or Dropout in the eval graph,
which would either cost lookups or change between train and eval.

Encoding: pixel ``v`` in 0..16 becomes ``v / 16``, rounded half up onto the input
scale's grid (``round(v * 2**scale / 16) / 2**scale``); at scale >= 4 that is exact.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import nn

from models.base import ReferenceModel, fit_minibatches
from prover.config import CircuitConfig

#: largest pixel value in load_digits
PIXEL_MAX = 16
#: image side length
SIDE = 8
#: fraction of images held out for the fidelity report
HELDOUT_FRACTION = 0.2
#: training images handed to calibration
N_CALIBRATION = 32
N_CLASSES = 10
#: pixels v/16 are exact at this scale; training uses it whatever the circuit's scale
TRAIN_SCALE = 4


def _quantize_pixels(pixels: np.ndarray, input_scale: int) -> np.ndarray:
    """Integer pixels 0..16, any shape, -> float32 on the ``2**-input_scale`` grid.

    Integer arithmetic (round half up) so the result never depends on float rounding.
    """
    if input_scale < 0:
        raise ValueError(f"input_scale must be >= 0, got {input_scale}")
    fixed = (pixels.astype(np.int64) * (1 << input_scale) + PIXEL_MAX // 2) // PIXEL_MAX
    return (fixed.astype(np.float64) / 2**input_scale).astype(np.float32)


def _as_pixels(raw: Any) -> np.ndarray:
    """Validate one image (64 values or 8x8) of integers 0..16 and return it as int64 8x8."""
    try:
        arr = np.asarray(raw)
    except Exception as exc:  # ragged nested sequences and the like
        raise ValueError("digits input must be 64 pixel values or an 8x8 array") from exc
    if arr.shape not in ((SIDE * SIDE,), (SIDE, SIDE)):
        raise ValueError(f"digits input must have shape (64,) or (8, 8), got {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError("digits pixels must be integers 0..16")
    if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
        raise ValueError("digits pixels must be integers 0..16")
    if arr.min() < 0 or arr.max() > PIXEL_MAX:
        raise ValueError(f"digits pixels must be in 0..{PIXEL_MAX}")
    return arr.astype(np.int64).reshape(SIDE, SIDE)


class DigitsModel(ReferenceModel):
    """Conv(1->4, 3x3) -> ReLU -> Linear(144 -> 10) on 8x8 digits; decision is argmax."""

    name = "digits"
    description = "8x8 handwritten digits (Conv 1->4 3x3, ReLU, Linear 144->10), argmax class"
    input_shape = (1, SIDE, SIDE)
    decision_name = "argmax"
    seed = 0
    circuit = CircuitConfig(
        input_scale=7,
        decomp_base=1024,
        decomp_legs=2,
        num_inner_cols=2,
        logrows=None,
        max_rel_error=None,  # judged by its decisions (see `decisions`), not by raw error
        coverage="input-box",  # every input `prove` accepts proves: contracts feed it live data
    )

    #: Adam settings: under a second on one CPU thread, ~97% held-out accuracy
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-2

    @cached_property
    def _split(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Seeded, stratified train/held-out split of the raw integer images and labels."""
        from sklearn.datasets import load_digits  # noqa: PLC0415 - keep `prover models` light
        from sklearn.model_selection import train_test_split  # noqa: PLC0415

        data = load_digits()
        images = data.images.astype(np.int64)
        labels = data.target.astype(np.int64)
        x_train, x_held, y_train, y_held = train_test_split(
            images,
            labels,
            test_size=HELDOUT_FRACTION,
            random_state=self.seed,
            stratify=labels,
        )
        return x_train, y_train, x_held, y_held

    def _encode_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 8, 8) integer images -> (n, 1, 8, 8) float32 at the circuit's input scale."""
        return _quantize_pixels(images, self.circuit.input_scale)[:, None, :, :]

    @cached_property
    def _heldout(self) -> np.ndarray:
        return self._encode_batch(self._split[2])

    @cached_property
    def _calibration(self) -> np.ndarray:
        return self._encode_batch(self._split[0][:N_CALIBRATION])

    def heldout_labels(self) -> np.ndarray:
        """True class of each held-out image, aligned with `heldout_set`."""
        return self._split[3].copy()

    @staticmethod
    def build() -> nn.Module:
        """The untrained architecture; kept separate so export code can name its layers."""
        return nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * (SIDE - 2) * (SIDE - 2), N_CLASSES),
        )

    def train(self) -> nn.Module:
        """Adam on cross-entropy with seeded minibatches.

        Inputs are the exact ``v / 16`` values (scale-independent), so tuning the
        circuit's input_scale never changes the trained weights.
        """
        x, y = self.training_tensors()
        return fit_minibatches(
            self.build,
            x,
            y,
            nn.functional.cross_entropy,
            seed=self.seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
        )

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training images (n, 1, 8, 8) float32 at TRAIN_SCALE, and labels (n,) int64."""
        x_train, y_train, _, _ = self._split
        return torch.from_numpy(_quantize_pixels(x_train, TRAIN_SCALE)[:, None, :, :]), torch.from_numpy(y_train)

    def calibration_set(self) -> np.ndarray:
        return self._calibration.copy()

    def heldout_set(self) -> np.ndarray:
        return self._heldout.copy()

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(outputs)
        return np.argmax(outputs.reshape(len(outputs), -1), axis=1).astype(np.int64)

    def explain(self, outputs: np.ndarray) -> list[tuple[str, str]]:
        scores = np.ravel(np.asarray(outputs, dtype=np.float64))
        first, second = np.argsort(scores)[::-1][:2]
        margin = scores[first] - scores[second]
        return [("digit", f"{first} (score {scores[first]:.3g}, ahead of {second} by {margin:.3g}; unitless logits)")]

    def encode(self, raw: Any, input_scale: int) -> np.ndarray:
        """One image of integer pixels 0..16 -> (1, 1, 8, 8) float32 on the scale's grid."""
        return _quantize_pixels(_as_pixels(raw), input_scale).reshape(1, 1, SIDE, SIDE)
