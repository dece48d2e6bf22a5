"""Accuracy bounds: when a circuit's fixed-point outputs are close enough to the float model.

The default means the same thing for any model and for every single proof: per output
tensor and per sample, |circuit - float| stays within `max_rel_error` of that sample's
own largest |value| in the tensor. A relative bound follows each output's own size, so
a logit in the hundreds and a probability near 0.01 are both held to 1% of themselves,
and a user checking one inference sees it within 1% of what onnxruntime says. Two floors
keep it finite: a sample's magnitude counts down to a tenth of the tensor's largest over
calibration and held-out data (a value crossing zero would otherwise demand ever finer
scales), and a tensor that is (nearly) always zero is held to a thousandth of the
model's largest output, so a circuit that rounds everything to zero cannot pass by
accident. `--max-error` replaces all of that with one absolute bound.

Decision agreement is judged only where someone said what the decision is: a reference
model's own decision function, or `--decision argmax` / `--decision threshold:T` for
a user's model. For those two, a float output whose decision is a near-tie (its margin
is within twice the error bound, so the bound itself allows either answer) is left out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from prover.artifacts import OutputFidelity
from prover.config import CircuitConfig
from prover.errors import SettingsError
from prover.pipeline.export import OnnxSignature

DecisionFn = Callable[[np.ndarray], np.ndarray]
#: an output tensor that stays below this share of the model's largest output is held to it
ZERO_FLOOR = 1e-3
ABSOLUTE_FLOOR = 1e-9
#: a sample's own magnitude counts down to this share of its tensor's largest
SAMPLE_FLOOR = 0.1


@dataclass(frozen=True)
class Decision:
    """What a model's outputs decide; `ties` marks decisions the float model barely makes."""

    name: str
    decide: DecisionFn
    ties: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def argmax_decisions(outputs: np.ndarray) -> np.ndarray:
    return np.argmax(outputs.reshape(len(outputs), -1), axis=1)


def parse_decision(spec: str, output_sizes: Sequence[int], output_shapes: Sequence[Sequence[int]]) -> Decision:
    """`argmax` (along each output tensor's last axis) or `threshold:T` (each element > T)."""
    if spec == "argmax":
        return _argmax_decision(output_sizes, output_shapes)
    if spec.startswith("threshold:"):
        try:
            threshold = float(spec.split(":", 1)[1])
        except ValueError:
            threshold = math.nan
        if math.isfinite(threshold):
            return _threshold_decision(threshold)
    raise SettingsError(f"unknown decision {spec!r}", hint="use --decision argmax or --decision threshold:0.5")


def _rows(outputs: np.ndarray, sizes: Sequence[int], shapes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Each output tensor of (n, flat) outputs as (n, rows, last axis)."""
    pieces, start = [], 0
    for size, shape in zip(sizes, shapes, strict=True):
        last = int(shape[-1]) if shape else 1
        pieces.append(outputs[:, start : start + size].reshape(len(outputs), -1, last))
        start += size
    return pieces


def _argmax_decision(sizes: Sequence[int], shapes: Sequence[Sequence[int]]) -> Decision:
    def decide(outputs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.argmax(piece, axis=2) for piece in _rows(outputs, sizes, shapes)], axis=1)

    def ties(reference: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        marks = []
        for piece, bound in zip(_rows(reference, sizes, shapes), bounds, strict=True):
            if piece.shape[2] < 2:
                marks.append(np.zeros(piece.shape[:2], dtype=bool))
                continue
            top = np.sort(piece, axis=2)
            marks.append(top[:, :, -1] - top[:, :, -2] <= 2 * bound)
        return np.concatenate(marks, axis=1)

    return Decision("argmax", decide, ties)


def _threshold_decision(threshold: float) -> Decision:
    def decide(outputs: np.ndarray) -> np.ndarray:
        return outputs > threshold

    return Decision(f"threshold:{threshold:g}", decide, None)


@dataclass(frozen=True)
class Judgement:
    """How one circuit did on one dataset, against the bounds."""

    errors: list[float]  # max |error| per output tensor
    agreement: float | None
    failure: str | None  # None: within every bound
    #: per tensor, the worst error over the error allowed for its sample (<= 1: within)
    usage: list[float] = field(default_factory=list)

    @property
    def max_abs_error(self) -> float:
        return max(self.errors, default=0.0)


@dataclass(frozen=True)
class AccuracyBounds:
    """Per-output error bounds and the decision to agree on, fixed before any candidate runs.

    `error_bounds` are absolute (--max-error) or, with `max_rel_error`, the loosest a
    sample may get (its tensor's largest magnitude); each sample is then held to its own.
    """

    output_names: list[str]
    output_sizes: list[int]
    error_bounds: list[float] | None
    decision: Decision | None
    min_agreement: float
    magnitudes: list[float] = field(default_factory=list)
    max_rel_error: float | None = None

    def allowed(self, reference: np.ndarray) -> np.ndarray | None:
        """(samples, tensors): the error each sample's tensor may have; None: unbounded."""
        if self.error_bounds is None:
            return None
        loosest = np.asarray(self.error_bounds, dtype=np.float64)
        if self.max_rel_error is None:
            return np.broadcast_to(loosest, (len(reference), len(loosest)))
        own = sample_errors(reference, np.zeros_like(reference), self.output_sizes)
        return self.max_rel_error * np.maximum(own, SAMPLE_FLOOR * loosest / self.max_rel_error)

    def judge(self, quantized: np.ndarray, reference: np.ndarray) -> Judgement:
        gaps = sample_errors(quantized, reference, self.output_sizes)
        errors = [float(e) for e in gaps.max(axis=0, initial=0.0)]
        agreement = self.agreement(quantized, reference)
        allowed = self.allowed(reference)
        if allowed is None or not len(gaps):
            return Judgement(errors, agreement, self._failure(None, agreement))
        ratios = gaps / allowed
        usage = [float(u) for u in ratios.max(axis=0)]
        failure = None
        if max(usage, default=0.0) > 1.0:
            sample_index, tensor = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
            failure = (
                f"{self.output_names[tensor]}: max error {gaps[sample_index, tensor]:.3g} > "
                f"{allowed[sample_index, tensor]:.3g} (sample {sample_index})"
            )
        return Judgement(errors, agreement, self._failure(failure, agreement), usage)

    def agreement(self, quantized: np.ndarray, reference: np.ndarray) -> float | None:
        if self.decision is None:
            return None
        same = np.asarray(self.decision.decide(quantized) == self.decision.decide(reference))
        if self.decision.ties is not None and self.error_bounds is not None:
            clear = ~self.decision.ties(reference, np.asarray(self.error_bounds))
            same = same[clear]
        return float(same.mean()) if same.size else 1.0

    def _failure(self, error_failure: str | None, agreement: float | None) -> str | None:
        if error_failure is not None:
            return error_failure
        if agreement is not None and agreement < self.min_agreement:
            return f"agreement {agreement:.2%} < {self.min_agreement:.2%}"
        return None

    def describe(self) -> str:
        parts = []
        if self.error_bounds is not None and self.max_rel_error is not None:
            parts.append(f"max |error| {self.max_rel_error:.3g} of each sample's output magnitude")
        elif self.error_bounds is not None:
            parts.append(
                "max |error| "
                + ", ".join(
                    f"{name} {bound:.3g}" for name, bound in zip(self.output_names, self.error_bounds, strict=True)
                )
            )
        if self.decision is not None:
            parts.append(f"{self.decision.name} agreement >= {self.min_agreement:.0%}")
        return "; ".join(parts) or "none"


def sample_errors(quantized: np.ndarray, reference: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """(samples, tensors): max |quantized - reference| per sample and output tensor."""
    gaps = np.abs(np.asarray(quantized, dtype=np.float64) - np.asarray(reference, dtype=np.float64))
    bounds = np.cumsum([0, *sizes])
    columns = [gaps[:, start:end].max(axis=1, initial=0.0) for start, end in itertools.pairwise(bounds)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(gaps), 0))


def tensor_errors(quantized: np.ndarray, reference: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Max |quantized - reference| per output tensor, from (n, flat) outputs."""
    return sample_errors(quantized, reference, sizes).max(axis=0, initial=0.0)


def tensor_magnitudes(outputs: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Largest |value| per output tensor, from (n, flat) outputs."""
    return tensor_errors(outputs, np.zeros_like(outputs), sizes)


def error_bounds(
    magnitudes: Sequence[float], max_rel_error: float | None, max_error: float | None
) -> list[float] | None:
    """The bound per output tensor: absolute if given, else relative to its magnitude (floored)."""
    if max_error is not None:
        return [max_error] * len(magnitudes)
    if max_rel_error is None:
        return None
    floor = max(ZERO_FLOOR * max(magnitudes, default=0.0), ABSOLUTE_FLOOR)
    return [max_rel_error * max(magnitude, floor) for magnitude in magnitudes]


def accuracy_bounds(
    signature: OnnxSignature, config: CircuitConfig, decision: Decision | None, outputs: list[np.ndarray]
) -> AccuracyBounds:
    """The bounds for this model and config, from its float outputs on all the data it has."""
    sizes = [math.prod(shape) for shape in signature.output_shapes]
    names = signature.output_names or [f"output {index}" for index in range(len(sizes))]
    magnitudes = [float(m) for m in tensor_magnitudes(np.concatenate(outputs), sizes)]
    return AccuracyBounds(
        output_names=names,
        output_sizes=sizes,
        error_bounds=error_bounds(magnitudes, config.max_rel_error, config.max_error),
        decision=decision,
        min_agreement=config.min_agreement,
        magnitudes=magnitudes,
        max_rel_error=config.max_rel_error if config.max_error is None else None,
    )


def bound_records(bounds: AccuracyBounds, judgement: Judgement | None = None) -> list[OutputFidelity]:
    """Per-output magnitude, bound and (if known) achieved error and share of the bound used."""
    count = len(bounds.output_names)
    limits: list[float | None] = list(bounds.error_bounds) if bounds.error_bounds else [None] * count
    achieved: list[float | None] = list(judgement.errors) if judgement else [None] * count
    usage: list[float | None] = list(judgement.usage) if judgement and judgement.usage else [None] * count
    return [
        OutputFidelity(
            name=name,
            magnitude=magnitude,
            bound=limit,
            relative=bounds.max_rel_error,
            max_abs_error=error,
            bound_used=used,
        )
        for name, magnitude, limit, error, used in zip(
            bounds.output_names, bounds.magnitudes, limits, achieved, usage, strict=True
        )
    ]
