"""Export stage: torch -> ONNX, and everything we check about an ONNX file before use.

The opset is pinned so that the graph ezkl sees does not change with torch's defaults;
onnx.checker plus an onnxruntime parity run catch exporter surprises before they turn
into a circuit that proves the wrong function.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from prover.artifacts import atomic_path
from prover.errors import ExportError, ModelLoadError

OPSET = 17
PARITY_ATOL = 1e-4


@dataclass(frozen=True)
class OnnxSignature:
    """Input and output shapes of a graph with every dimension fixed (batch included)."""

    input_names: list[str]
    input_shapes: list[list[int]]
    output_shapes: list[list[int]]


def export_torch(module: torch.nn.Module, example: np.ndarray, out: Path, parity: np.ndarray) -> None:
    """Export with the batch of `example` fixed in the graph, then prove the ONNX computes
    what torch computes on every batch in `parity`, shaped (batches, *example.shape).

    ezkl needs static shapes, so a batch of 4 is a different graph (and circuit) from a
    batch of 1: one proof then covers four inferences.
    """
    module = module.eval()
    sample = torch.from_numpy(np.ascontiguousarray(example, dtype=np.float32))
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (sample,),
                str(tmp),
                input_names=["input"],
                output_names=["output"],
                opset_version=OPSET,
                dynamo=False,
            )
        inspect_onnx(tmp)
        with torch.no_grad():
            expected = np.stack(
                [module(torch.from_numpy(np.asarray(batch, dtype=np.float32))).numpy().ravel() for batch in parity]
            )
        got = run_onnx(tmp, [parity]).reshape(expected.shape)
        gap = float(np.max(np.abs(got - expected))) if expected.size else 0.0
        if gap > PARITY_ATOL:
            raise ExportError(f"onnxruntime disagrees with torch by {gap:.3g} (> {PARITY_ATOL})")


def inspect_onnx(path: Path) -> OnnxSignature:
    """Load, check and open `path` with onnxruntime; any failure is one ModelLoadError."""
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        session = _session(path)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load ONNX model {path}: {reason}") from None
    inputs = session.get_inputs()
    shapes = [[_fixed_dim(d, item.name) for d in item.shape] for item in inputs]
    outputs = [[d if isinstance(d, int) else 1 for d in item.shape] for item in session.get_outputs()]
    return OnnxSignature([item.name for item in inputs], shapes, outputs)


def _fixed_dim(dim: object, name: str) -> int:
    """ezkl needs static shapes; a symbolic batch dimension is taken as 1."""
    if isinstance(dim, int):
        return dim
    return 1


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, inputs: list[np.ndarray]) -> np.ndarray:
    """Float reference outputs: one run per sample; returns (n, outputs-flattened) float64.

    `inputs` holds one array per graph input, each shaped (n, *sample_shape).
    """
    session = _session(path)
    meta = session.get_inputs()
    rows = []
    for index in range(len(inputs[0])):
        feed = {}
        for item, array in zip(meta, inputs, strict=True):
            shape = [_fixed_dim(d, item.name) for d in item.shape]
            feed[item.name] = np.asarray(array[index], dtype=np.float32).reshape(shape)
        outputs = session.run(None, feed)
        rows.append(np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in outputs]))
    return np.stack(rows) if rows else np.zeros((0, 0))
