"""What an inference's outputs decide, in words and units: `prover prove` prints this
beside the raw numbers, so a fee forecast reads as a fee tier and logits as a class.

A reference model explains itself (`ReferenceModel.explain`); a circuit built from
your ONNX with `--decision argmax` or `threshold:T` gets that rule spelled out; without a
decision there is nothing to add to the numbers.
"""

from __future__ import annotations

import numpy as np

from models import get_model, model_names
from prover.artifacts import Manifest
from prover.pipeline.bounds import parse_decision


def _per_inference(outputs: list[list[float]], batch: int) -> list[np.ndarray]:
    """Flat outputs of each of the proof's `batch` inferences (tensors are batch-major)."""
    pieces = [np.asarray(tensor, dtype=np.float64).reshape(batch, -1) for tensor in outputs]
    return [np.concatenate([piece[index] for piece in pieces]) for index in range(batch)]


def _reference_name(manifest: Manifest) -> str | None:
    if manifest.source != "reference":
        return None
    name = manifest.model or manifest.name  # built before `model` was recorded: named like the model
    return name if name in model_names() else None


def readouts(manifest: Manifest, outputs: list[list[float]]) -> list[list[tuple[str, str]]]:
    """Per inference of the proof, (label, value) lines; empty lists if nothing is decided."""
    batch = max(manifest.batch, 1)
    inferences = _per_inference(outputs, batch)
    reference = _reference_name(manifest)
    if reference is not None:
        model = get_model(reference)
        return [model.explain(flat) for flat in inferences]
    spec = manifest.config.decision
    if spec is None or manifest.info is None:
        return [[] for _ in inferences]
    shapes = [shape[1:] if batch > 1 else shape for shape in manifest.info.output_shapes]
    sizes = [int(np.prod(shape)) if shape else 1 for shape in shapes]
    decision = parse_decision(spec, sizes, shapes)
    lines = []
    for flat in inferences:
        decided = np.asarray(decision.decide(flat.reshape(1, -1))).ravel()
        if spec == "argmax":
            lines.append([("class (argmax)", ", ".join(str(int(value)) for value in decided))])
        else:
            threshold = spec.split(":", 1)[1]
            lines.append([(f"above {threshold}", ", ".join("yes" if value else "no" for value in decided))])
    return lines
