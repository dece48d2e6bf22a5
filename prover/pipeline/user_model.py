"""A user's own ONNX model brought into a circuit folder: the graph, its data, and what
`--batch N` and `--decision` mean for a graph the toolkit did not export itself.

A graph with a dynamic batch axis (torch's tutorials export one) becomes a graph of N
samples per run: the axis is fixed to N in the copy, and the data's rows are grouped N
at a time, so one proof covers N inferences. A graph exported with the batch fixed is
taken as it is.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from prover.artifacts import CircuitPaths, atomic_path, write_json_atomic
from prover.datasets import load_dataset, regrouped, to_input_json
from prover.errors import SettingsError
from prover.pipeline.bounds import Decision, parse_decision
from prover.pipeline.export import OnnxSignature, copy_onnx, fix_batch_axis


@dataclass(frozen=True)
class UserModel:
    """A user's own ONNX model and the data to calibrate (and optionally judge) it on."""

    onnx: Path
    calibration: Path
    heldout: Path | None = None


def check_batch_axis(signature: OnnxSignature, batch: int) -> bool:
    """Whether `batch` > 1 means fixing a dynamic batch axis (True) or finding it fixed
    already (False); refused when the graph has neither."""
    if batch == 1:
        return False
    dynamic = bool(signature.fixed_axes) and len(signature.fixed_axes) == len(signature.input_shapes)
    if dynamic and all(shape and shape[0] == 1 for shape in signature.input_shapes):
        return True
    shapes = [*signature.input_shapes, *signature.output_shapes]
    if signature.fixed_axes or any(not shape or shape[0] != batch for shape in shapes):
        found = sorted({shape[0] if shape else 1 for shape in shapes})
        raise SettingsError(
            f"--batch {batch} needs a graph whose inputs all lead with a dynamic batch axis, or whose inputs "
            f"and outputs all lead with a fixed batch axis of {batch}; this one leads with "
            f"{', '.join(map(str, found))}",
            hint=f"export the model with a dynamic batch axis (dynamic_axes={{'input': {{0: 'batch'}}}}) or with "
            f"batch size {batch} fixed",
        )
    return False


def user_decision(signature: OnnxSignature, spec: str) -> Decision:
    """--decision for a user's graph, over its own output tensors."""
    sizes = [math.prod(shape) for shape in signature.output_shapes]
    return parse_decision(spec, sizes, signature.output_shapes)


def import_user_model(user: UserModel, paths: CircuitPaths, regroup: int, signature: OnnxSignature) -> None:
    """Copy the graph and data into the circuit folder; with `regroup` > 1, fix the graph's
    dynamic batch axis to it and group the data's rows to match."""
    paths.root.mkdir(parents=True, exist_ok=True)
    copy_onnx(user.onnx, paths.onnx)
    copies = [(user.calibration, paths.calibration)]
    if user.heldout is not None:
        copies.append((user.heldout, paths.heldout))
    if regroup > 1:
        fix_batch_axis(paths.onnx, regroup)
    for source, target in copies:
        if regroup > 1:
            grouped = regrouped(load_dataset(source, signature.input_shapes), regroup)
            if not len(grouped[0]):
                raise SettingsError(f"{source} holds fewer than {regroup} samples, one batch of --batch {regroup}")
            write_json_atomic(target, to_input_json(grouped))
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
