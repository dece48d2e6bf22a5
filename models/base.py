"""What every reference model provides, so the pipeline can treat them alike.

A reference model is a recipe, not a checkpoint: it trains itself from seeded,
offline data in seconds, so the repo never ships weights and a build is reproducible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from prover.config import CircuitConfig


class ReferenceModel(ABC):
    """A trainable torch model plus the data and encoding the circuit needs."""

    #: registry key and circuit name
    name: str
    #: one line for `prover models`
    description: str
    #: input tensor shape without the batch dimension
    input_shape: tuple[int, ...]
    #: what decision agreement means for this model, for reports ("argmax", "fee bucket")
    decision_name: str
    #: seed for data generation and training; part of the build's identity
    seed: int = 0
    #: tuned circuit settings used by `prover build NAME`
    circuit: CircuitConfig = CircuitConfig()

    @abstractmethod
    def train(self) -> torch.nn.Module:
        """Seeded, offline training; returns the model in eval mode. Takes seconds."""

    @abstractmethod
    def calibration_set(self) -> np.ndarray:
        """Encoded inputs, shape (n, *input_shape), float32: what calibration sees."""

    @abstractmethod
    def heldout_set(self) -> np.ndarray:
        """Encoded inputs never used in training or calibration, for the fidelity report."""

    @abstractmethod
    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        """Map model outputs, shape (n, *output_shape), to one integer decision per row."""

    @abstractmethod
    def encode(self, raw: Any, input_scale: int) -> np.ndarray:
        """Turn raw features into one input tensor, shape (1, *input_shape).

        The result is exactly representable at `input_scale`, so the circuit's
        quantization reproduces it bit for bit (and a contract can recompute it).
        """

    def example_input(self) -> np.ndarray:
        """One encoded held-out input, shape (1, *input_shape), for demos and smoke tests."""
        return self.heldout_set()[:1]
