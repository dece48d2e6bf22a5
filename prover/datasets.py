"""Datasets in ezkl's JSON input format, and every check a value passes before it reaches ezkl.

ezkl's format is `{"input_data": [[flat values of input 0], [flat values of input 1], ...]}`;
a calibration or held-out file may concatenate several samples per input. Internally a
dataset is one float array per graph input, shaped (samples, *input_shape).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prover.errors import InputError, InputRangeError, InputShapeError, InputTypeError, NonFiniteInputError
from prover.jsonio import read_json

Dataset = list[np.ndarray]
RANGE_SLACK = 1e-9


def read_input_file(path: Path) -> list[list[Any]]:
    """The raw per-input value lists of an ezkl input file; malformed files are InputError."""
    document = read_json(path, "input file", InputError)
    data = document.get("input_data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise InputError(f"input file {path} has no 'input_data' list")
    if all(_is_number(v) for v in data):
        data = [data]  # a single input given as one flat list
    for index, values in enumerate(data):
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise InputError(f"input {index} in {path} must be a flat list of numbers")
    return data


def _is_number(value: Any) -> bool:
    """JSON numbers, and true/false (ezkl's own files hold them for boolean inputs: 1 and 0)."""
    return isinstance(value, (int, float))


def split_samples(raw: list[list[Any]], shapes: list[list[int]], source: str) -> Dataset:
    """Cut each flat list into samples of its input's shape; lengths must agree."""
    if len(raw) != len(shapes):
        raise InputShapeError(f"{source} has {len(raw)} inputs, the circuit takes {len(shapes)}")
    dataset: Dataset = []
    counts = set()
    for index, (values, shape) in enumerate(zip(raw, shapes, strict=True)):
        size = math.prod(shape)
        if not values or len(values) % size:
            raise InputShapeError(
                f"{source}: input {index} has {len(values)} values, expected a multiple of {size} (shape {shape})"
            )
        try:
            array = np.asarray(values, dtype=np.float64).reshape(len(values) // size, *shape)
        except OverflowError:
            raise NonFiniteInputError(f"{source}: input {index} holds a number too large for a float") from None
        dataset.append(array)
        counts.add(len(array))
    if len(counts) != 1:
        raise InputShapeError(f"{source}: inputs hold different numbers of samples {sorted(counts)}")
    return dataset


def load_dataset(path: Path, shapes: list[list[int]]) -> Dataset:
    return split_samples(read_input_file(path), shapes, str(path))


def load_single_input(path: Path, shapes: list[list[int]]) -> Dataset:
    """One sample exactly: `prove` proves one inference."""
    dataset = load_dataset(path, shapes)
    if len(dataset[0]) != 1:
        sizes = [math.prod(s) for s in shapes]
        raise InputShapeError(
            f"{path} holds {len(dataset[0])} samples; prove takes one ({sizes} values per input, shapes {shapes})"
        )
    return dataset


def sample_count(dataset: Dataset) -> int:
    return len(dataset[0])


def sample(dataset: Dataset, index: int) -> Dataset:
    return [array[index : index + 1] for array in dataset]


def batched(array: np.ndarray, batch: int) -> np.ndarray:
    """(n, *shape) -> (n // batch, batch, *shape): one row per run of a graph taking `batch`
    inputs. A last, partial group is dropped rather than padded with made-up inputs."""
    groups = len(array) // batch
    return array[: groups * batch].reshape(groups, batch, *array.shape[1:])


def regrouped(dataset: Dataset, batch: int) -> Dataset:
    """Samples of a batch-1 graph ((n, 1, *rest) per input) as samples of its batch-N form
    ((n // N, N, *rest)); a partial last group is dropped."""
    return [batched(array.reshape(len(array), *array.shape[2:]), batch) for array in dataset]


def to_input_json(dataset: Dataset) -> dict[str, Any]:
    return {"input_data": [np.asarray(a, dtype=np.float64).ravel().tolist() for a in dataset]}


def check_finite(dataset: Dataset, source: str) -> None:
    for index, array in enumerate(dataset):
        bad = np.flatnonzero(~np.isfinite(array.ravel()))
        if bad.size:
            raise NonFiniteInputError(f"{source}: input {index} value #{int(bad[0])} is {array.ravel()[bad[0]]}")


def calibrated_range(dataset: Dataset, safety_margin: int, kinds: Sequence[str] = ()) -> list[tuple[float, float]]:
    """Per-input range that proving accepts: what calibration saw, widened by its margin.

    ezkl sizes lookup tables for `safety_margin` times the calibrated magnitudes, so the
    span seen in calibration is widened by (margin - 1) / 2 of itself on each side. An
    integer or boolean input (`kinds`, numpy type names; empty: all float) is not widened:
    such inputs are usually indices or categories, where an unseen value is not "nearby".
    """
    ranges = []
    for index, array in enumerate(dataset):
        low, high = float(np.min(array)), float(np.max(array))
        if is_float_kind(kinds[index] if index < len(kinds) else "float32"):
            widen = (safety_margin - 1) / 2 * max(high - low, 1e-6)
            low, high = low - widen, high + widen
        ranges.append((low, high))
    return ranges


def is_float_kind(kind: str) -> bool:
    return kind.startswith("float")


def check_kinds(dataset: Dataset, kinds: Sequence[str], source: str, names: Sequence[str] = ()) -> None:
    """Integer inputs hold whole numbers within their type, boolean inputs 0 or 1."""
    for index, (array, kind) in enumerate(zip(dataset, kinds, strict=False)):
        if is_float_kind(kind):
            continue
        flat = array.ravel()
        label = f"input {names[index]!r}" if index < len(names) else f"input {index}"
        low, high = (0, 1) if kind == "bool" else (np.iinfo(kind).min, np.iinfo(kind).max)
        bad = np.flatnonzero((flat != np.rint(flat)) | (flat < low) | (flat > high))
        if bad.size:
            position = int(bad[0])
            allowed = "0 or 1" if kind == "bool" else f"a whole number in [{low}, {high}]"
            raise InputTypeError(
                f"{source}: {label} is {kind} but value #{position} = {flat[position]:g} is not {allowed}"
            )


def check_range(dataset: Dataset, allowed: list[tuple[float, float]], source: str, hint: str | None = None) -> None:
    for index, (array, (low, high)) in enumerate(zip(dataset, allowed, strict=True)):
        flat = array.ravel()
        outside = np.flatnonzero((flat < low - RANGE_SLACK) | (flat > high + RANGE_SLACK))
        if outside.size:
            position = int(outside[0])
            raise InputRangeError(
                f"{source}: input {index} value #{position} = {flat[position]:g} is outside the "
                f"calibrated range [{low:g}, {high:g}]",
                hint=hint,
            )
