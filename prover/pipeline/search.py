"""One tuning run's state: the data, the bounds, the budget, the scratch folders, the trial log.

The tuner's phases (tuner.py) and its finalists (finalists.py) share this object; each
candidate is a throw-away circuit folder under the run's scratch directory, and each
step it takes is charged to the work budget from the sizes ezkl reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prover.artifacts import CircuitPaths, TrialRecord
from prover.config import CircuitConfig, Layout
from prover.datasets import Dataset
from prover.pipeline.bounds import Decision, Judgement, accuracy_bounds
from prover.pipeline.budget import WorkBudget, compile_cost, witness_cost
from prover.pipeline.export import inspect_onnx, run_onnx
from prover.pipeline.fidelity import circuit_outputs
from prover.pipeline.sizing import candidate_paths, compile_for, stress_set, write_settings
from prover.progress import Reporter

#: share of the budget the search may spend before the finalists' keys and proofs
SEARCH_SHARE = 0.6


@dataclass(frozen=True)
class TuningData:
    calibration: Dataset
    heldout: Dataset
    decision: Decision | None


def arithmetic_twin(config: CircuitConfig) -> CircuitConfig:
    """`config` with hashed visibilities made plain: the same fixed-point arithmetic
    without the Poseidon hashes, which dominate witness time (fee's 161 hashed params
    made every witness several times slower). Scales and decompositions are judged on
    it; finalists are sized and proved as the real circuit, so a twin that misjudged
    would still fail there, not in a user's proof."""
    plain = {"input_visibility": "public", "output_visibility": "public", "param_visibility": "fixed"}
    return config.model_copy(
        update={field: value for field, value in plain.items() if getattr(config, field) == "hashed"}
    )


def output_scales(paths: CircuitPaths) -> list[int]:
    return list(json.loads(paths.settings.read_text())["model_output_scales"])


class Search:
    """State of one tuning run; see the module docstring."""

    def __init__(
        self, paths: CircuitPaths, config: CircuitConfig, data: TuningData, scratch: Path, reporter: Reporter
    ) -> None:
        self.paths, self.config, self.data, self.scratch, self.reporter = paths, config, data, scratch, reporter
        self.signature = inspect_onnx(paths.onnx)
        self.reference = run_onnx(paths.onnx, data.heldout)
        calibration_reference = run_onnx(paths.onnx, data.calibration)
        self.bounds = accuracy_bounds(self.signature, config, data.decision, [calibration_reference, self.reference])
        self.stress = stress_set(
            data.calibration, data.heldout, config.lookup_safety_margin, self.signature.input_types, config.coverage
        )
        self.arithmetic = arithmetic_twin(config)
        self.budget = WorkBudget(config.tune_budget)
        self.trials: list[TrialRecord] = []
        self.has_candidate = False  # once something is ready for keys, the budget may end the search

    @property
    def searching_budget_spent(self) -> bool:
        return self.budget.spent >= SEARCH_SHARE * self.budget.allowed

    def label(self, layout: Layout) -> CircuitPaths:
        name = (
            f"s{layout.input_scale}p{layout.param_scale}m{layout.scale_rebase_multiplier}"
            f"b{layout.decomp_base}l{layout.decomp_legs}c{layout.num_inner_cols}"
        )
        return candidate_paths(self.scratch, name, self.paths)

    def circuit_identity(self, layout: Layout) -> tuple[object, ...]:
        """What makes two scale choices the same circuit: integer and boolean inputs take
        scale 0 whatever the input scale, so several choices can compile identically."""
        paths = self.label(layout)
        write_settings(paths, self.arithmetic, layout)
        document = json.loads(paths.settings.read_text())
        self.budget.charge(compile_cost(int(document["num_rows"])))
        return (
            tuple(document["model_input_scales"]),
            tuple(document["model_output_scales"]),
            layout.param_scale,
            layout.scale_rebase_multiplier,
        )

    def judge(self, layout: Layout, data: Dataset, reference: np.ndarray) -> Judgement:
        """Errors and agreement of the circuit's witnesses on `data` (the arithmetic twin)."""
        paths = self.label(layout)
        facts = compile_for(paths, self.arithmetic, layout)
        self.budget.charge(compile_cost(facts.num_rows) + witness_cost(facts.num_rows, len(reference)))
        return self.bounds.judge(circuit_outputs(paths, data, output_scales(paths)), reference)

    def record(self, phase: str, layout: Layout | None, status: str, **facts: object) -> TrialRecord:
        trial = TrialRecord.model_validate({"phase": phase, "layout": layout, "status": status, **facts})
        self.trials.append(trial)
        return trial

    def record_judged(self, phase: str, layout: Layout, judgement: Judgement, **facts: object) -> TrialRecord:
        return self.record(
            phase,
            layout,
            judgement.failure or "passed",
            max_abs_error=judgement.max_abs_error,
            output_errors=judgement.errors,
            agreement=judgement.agreement,
            **facts,
        )
