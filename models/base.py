"""What every reference model provides, so the pipeline can treat them alike.

A reference model is a recipe, not a checkpoint: it trains itself from seeded,
offline data in seconds, so the repo never ships weights and a build is reproducible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from prover.config import CircuitConfig
from prover.provenance import record_batch, record_checkpoint, record_hyperparameters, record_seeds


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
    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (inputs, targets) `train` consumes, exactly as it consumes them.

        They are what `training_data.npz` stores and the dataset hash covers, so an audit
        can check the file against the seeded recipe that made it.
        """

    @abstractmethod
    def calibration_set(self) -> np.ndarray:
        """Encoded inputs, shape (n, *input_shape), float32: what calibration sees."""

    @abstractmethod
    def heldout_set(self) -> np.ndarray:
        """Encoded inputs never used in training or calibration, for the fidelity report."""

    @abstractmethod
    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        """Map model outputs, shape (n, *output_shape), to one integer decision per row."""

    def explain(self, outputs: np.ndarray) -> list[tuple[str, str]]:
        """What one inference's outputs (flat, rescaled) decide, as (label, value with its
        unit) lines, for `prover prove`; a model says more than its decision's number."""
        return [(self.decision_name, str(int(self.decisions(np.asarray(outputs).reshape(1, -1))[0])))]

    @abstractmethod
    def encode(self, raw: Any, input_scale: int) -> np.ndarray:
        """Turn raw features into one input tensor, shape (1, *input_shape).

        The result is exactly representable at `input_scale`, so the circuit's
        quantization reproduces it bit for bit (and a contract can recompute it).
        """

    def example_input(self) -> np.ndarray:
        """One encoded held-out input, shape (1, *input_shape), for demos and smoke tests."""
        return self.heldout_set()[:1]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Train on one intra-op thread, then restore the caller's setting.

    The models are tiny, so threads only add synchronisation: with two cores shared by
    another process, two threads made training 30x slower. One thread also keeps the
    weights independent of the machine's core count.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_minibatches(
    build: Callable[[], torch.nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
) -> torch.nn.Module:
    """Adam over seeded minibatches: every random draw (init, order) comes from `seed`.

    Each minibatch, each epoch's weights and the final weights are reported to the
    active provenance tracker, if any (see prover.provenance); without one this costs
    nothing, so callers never pass a tracker in.
    """
    record_seeds({"torch.manual_seed": seed, "numpy.default_rng": seed})
    record_hyperparameters(
        {
            "optimizer": "Adam",
            "loss": getattr(loss_fn, "__name__", type(loss_fn).__name__),
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
        }
    )
    with one_torch_thread():
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = build()
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(x)))
            for start in range(0, len(x), batch_size):
                batch = order[start : start + batch_size]
                inputs, targets = x[batch], y[batch]
                record_batch(inputs, targets)
                optimizer.zero_grad()
                loss_fn(model(inputs), targets).backward()  # type: ignore[no-untyped-call]
                optimizer.step()
            record_checkpoint(model)
    model.eval()
    record_checkpoint(model, final=True)
    return model
