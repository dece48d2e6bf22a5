"""Size one layout for real: its lookup range and logrows, measured, then checked.

ezkl's calibration does this only for tied input/param scales it picks itself. Here a
layout is sized from cheap measurements instead: gen_settings gives the row count and
range-check tables (milliseconds), witnesses over a stress set give the lookup range
and show whether the decomposition overflows, and halo2's MockProver confirms that the
chosen logrows hold every constraint. No key is made until a layout has passed all that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prover import ezkl_api
from prover.artifacts import CircuitPaths, atomic_path
from prover.config import CircuitConfig, Coverage, Layout
from prover.datasets import Dataset, calibrated_range, sample, sample_count
from prover.errors import CircuitError, SettingsError
from prover.owners import owned_temp_dir
from prover.pipeline.compile import compile_circuit
from prover.pipeline.export import inspect_onnx
from prover.proving.prove import witness_for_dataset

# ezkl reserves rows for blinding factors (5) plus a pad (3) in every column.
RESERVED_BLINDING_ROWS = 8
MIN_LOGROWS = 6
PROBE_LOOKUP_RANGE = (-(1 << 20), 1 << 20)
PROBE_LOGROWS = 20  # what layouts are compiled with before they are sized
MOCK_STEPS = 3  # logrows above the estimate tried before a layout is given up (each costs a MockProver run)
STRESS_CORNERS = 8
STRESS_EXTREMES = 16


class LayoutOverflow(SettingsError):
    """The decomposition cannot hold a value the stress set reaches."""


class TooManyRows(SettingsError):
    """The layout's rows or lookup tables need more logrows than allowed."""


@dataclass(frozen=True)
class SettingsFacts:
    """What gen_settings says about a layout before anything is compiled."""

    num_rows: int
    range_check_span: int
    lookup_bits: int
    const_size: int
    instances: int
    has_lookups: bool

    def min_logrows(self, layout: Layout) -> int:
        """The smallest k ezkl's own sizing would accept (rows, tables, constants, instances)."""
        bits = [
            MIN_LOGROWS,
            math.ceil(math.log2(self.num_rows + RESERVED_BLINDING_ROWS)),
            math.ceil(math.log2(self.range_check_span + RESERVED_BLINDING_ROWS + 1)),
            math.ceil(math.log2(max(self.const_size, 1) / layout.num_inner_cols)) if self.const_size else 0,
            math.ceil(math.log2(self.instances + RESERVED_BLINDING_ROWS)),
            self.lookup_bits,
        ]
        return max(bits)


def read_facts(settings: Path) -> SettingsFacts:
    document = json.loads(settings.read_text())
    lookup = document["run_args"]["lookup_range"]
    lookups = bool(document.get("required_lookups"))
    span = max((high - low for low, high in document.get("required_range_checks", [])), default=0)
    instances = sum(int(np.prod(shape)) for shape in document.get("model_instance_shapes", []))
    lookup_bits = math.ceil(math.log2(lookup[1] - lookup[0] + RESERVED_BLINDING_ROWS + 1)) if lookups else 0
    return SettingsFacts(
        num_rows=int(document["num_rows"]),
        range_check_span=int(span),
        lookup_bits=lookup_bits,
        const_size=int(document.get("total_const_size", 0)),
        instances=instances,
        has_lookups=lookups,
    )


def candidate_paths(scratch: Path, label: str, source: CircuitPaths) -> CircuitPaths:
    """A throw-away circuit folder sharing the source's ONNX (hard link or copy)."""
    paths = CircuitPaths(workdir=scratch / label, name=source.name)
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.onnx.exists():
        try:
            paths.onnx.hardlink_to(source.onnx)
        except OSError:
            paths.onnx.write_bytes(source.onnx.read_bytes())
    return paths


def write_settings(paths: CircuitPaths, config: CircuitConfig, layout: Layout) -> SettingsFacts:
    """gen_settings for exactly this layout, atomically; returns its facts."""
    with atomic_path(paths.settings) as tmp:
        ezkl_api.gen_settings(paths.onnx, tmp, config, layout, paths.log, inspect_onnx(paths.onnx).symbols)
    return read_facts(paths.settings)


def compile_for(paths: CircuitPaths, config: CircuitConfig, layout: Layout) -> SettingsFacts:
    """Settings for exactly this layout, then the compiled circuit; returns the settings' facts."""
    facts = write_settings(paths, config, layout)
    compile_circuit(paths)
    return facts


def stress_set(
    calibration: Dataset,
    heldout: Dataset,
    margin: int,
    kinds: Sequence[str] = (),
    coverage: Coverage = "calibration",
    seed: int = 0,
) -> Dataset:
    """The samples a layout must witness: the data's most extreme, and for 'input-box' coverage
    also corners of the accepted input range, the two uniform corners first.

    Samples are picked whole (every input of one sample together). A piecewise-linear
    network takes its largest intermediate values at the corners of the input box, so
    these are where a too-small decomposition overflows first; 'calibration' coverage
    sizes for the data instead, like ezkl, and leaves headroom through the margin.
    """
    pooled = [np.concatenate([first, second]) for first, second in zip(calibration, heldout, strict=True)]
    count = sample_count(pooled)
    score = np.zeros(count)
    for array in pooled:
        magnitude = np.abs(array.reshape(count, -1)).max(axis=1)
        score += magnitude / (magnitude.max() or 1.0)
    order = np.argsort(-score, kind="stable")[:STRESS_EXTREMES]
    extremes = [array[order].astype(np.float64) for array in pooled]
    if coverage == "calibration":
        return extremes
    rng = np.random.default_rng(seed)
    columns = []
    for array, (low, high) in zip(extremes, calibrated_range(calibration, margin, kinds), strict=True):
        flat = array.reshape(len(array), -1)
        corners = np.where(rng.random((STRESS_CORNERS, flat.shape[1])) < 0.5, low, high)
        corners[0], corners[1] = low, high
        stacked = np.concatenate([corners, flat]).astype(np.float64)
        columns.append(stacked.reshape(len(stacked), *array.shape[1:]))
    return columns


@dataclass(frozen=True)
class Witnessed:
    lookup_min: int
    lookup_max: int


def witness_all(paths: CircuitPaths, data: Dataset) -> Witnessed:
    """Witness every sample (CircuitError on the first overflow); lookup extremes seen."""
    low, high = 0, 0
    with owned_temp_dir(paths.root, "sizing") as scratch:
        out = scratch / "witness.json"
        for index in range(sample_count(data)):
            witness = witness_for_dataset(paths, sample(data, index), out)
            low = min(low, int(witness.get("min_lookup_inputs", 0)))
            high = max(high, int(witness.get("max_lookup_inputs", 0)))
    return Witnessed(low, high)


def fits(paths: CircuitPaths, config: CircuitConfig, layout: Layout, stress: Dataset) -> bool:
    """True if every stress sample witnesses without overflow under this layout."""
    compile_for(paths, config, layout.model_copy(update={"lookup_range": PROBE_LOOKUP_RANGE, "logrows": PROBE_LOGROWS}))
    try:
        witness_all(paths, stress)
    except CircuitError:
        return False
    return True


def size_layout(
    paths: CircuitPaths, config: CircuitConfig, layout: Layout, stress: Dataset, max_logrows: int
) -> Layout:
    """Lookup range from the stress witnesses, then the least logrows the MockProver accepts.

    Leaves paths.settings and paths.compiled holding the sized layout. LayoutOverflow if
    the stress set overflows its decomposition, TooManyRows if it needs more than
    `max_logrows` (or the MockProver refuses it a few logrows above the estimate).
    """
    probe = layout.model_copy(update={"lookup_range": PROBE_LOOKUP_RANGE, "logrows": max_logrows})
    facts = compile_for(paths, config, probe)
    try:
        seen = witness_all(paths, stress)
    except CircuitError as exc:
        raise LayoutOverflow(f"{layout.short()} overflows on the stress set: {exc.message}") from None
    lookup_range = (0, 0)
    if facts.has_lookups:
        margin = layout.lookup_safety_margin
        lookup_range = (math.floor(seen.lookup_min * margin), math.ceil(seen.lookup_max * margin))
    sized = layout.model_copy(update={"lookup_range": lookup_range, "logrows": max_logrows})
    facts = write_settings(paths, config, sized)
    start = facts.min_logrows(sized)
    if config.logrows is not None:
        if config.logrows < start:
            raise SettingsError(
                f"logrows {config.logrows} is below the {start} this circuit needs",
                hint="drop --logrows to let the sizing choose",
            )
        start = max_logrows = config.logrows
    if start > max_logrows:
        raise TooManyRows(
            f"{layout.short()} needs {start} logrows, more than the {max_logrows} allowed", hint="raise --max-logrows"
        )
    for logrows in range(start, min(max_logrows, start + MOCK_STEPS - 1) + 1):
        sized = sized.model_copy(update={"logrows": logrows})
        compile_for(paths, config, sized)
        if _mock_passes(paths, stress):
            return sized
    raise TooManyRows(
        f"{layout.short()} fails the MockProver at logrows {start} to {logrows}", hint="raise --max-logrows"
    )


def _mock_passes(paths: CircuitPaths, stress: Dataset) -> bool:
    """MockProver on the two hardest stress samples (the uniform corners, or the most extreme data)."""
    with owned_temp_dir(paths.root, "mock") as scratch:
        out = scratch / "witness.json"
        for index in range(min(2, sample_count(stress))):
            try:
                witness_for_dataset(paths, sample(stress, index), out)
            except CircuitError:
                return False
            if not ezkl_api.mock(out, paths.compiled, paths.log):
                return False
    return True
