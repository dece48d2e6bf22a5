"""Fidelity stage: how far the circuit's fixed-point outputs are from the float model.

Uses witness generation only (no proof), so it is cheap enough to run on the whole
held-out set at every build, and later to prune candidate settings.
"""

from __future__ import annotations

import numpy as np

from prover.artifacts import CircuitPaths, FidelityReport
from prover.datasets import Dataset, sample, sample_count
from prover.owners import owned_temp_dir
from prover.pipeline.bounds import AccuracyBounds, DecisionFn, bound_records
from prover.pipeline.export import run_onnx
from prover.proving.prove import rescaled_outputs, witness_for_dataset


def per_inference(decide: DecisionFn | None, batch: int) -> DecisionFn | None:
    """Decisions per inference for a graph that takes `batch` inputs per run.

    Circuit and float outputs come one row per run, (runs, batch * outputs); the model's
    own decision function expects one row per inference, so rows are split first.
    """
    if decide is None or batch == 1:
        return decide

    def decide_each(outputs: np.ndarray) -> np.ndarray:
        return decide(outputs.reshape(len(outputs) * batch, -1))

    return decide_each


def circuit_outputs(paths: CircuitPaths, dataset: Dataset, output_scales: list[int]) -> np.ndarray:
    """Rescaled circuit outputs for every sample, shape (n, outputs-flattened)."""
    rows = []
    with owned_temp_dir(paths.root, "fidelity") as scratch:
        witness_path = scratch / "witness.json"
        for index in range(sample_count(dataset)):
            witness = witness_for_dataset(paths, sample(dataset, index), witness_path)
            rows.append(np.concatenate([np.asarray(t) for t in rescaled_outputs(witness, output_scales)]))
    return np.stack(rows)


def measure_fidelity(
    paths: CircuitPaths, dataset: Dataset, dataset_name: str, output_scales: list[int], bounds: AccuracyBounds
) -> FidelityReport:
    """Errors per output and decision agreement of the built circuit, against its bounds."""
    reference = run_onnx(paths.onnx, dataset)
    quantized = circuit_outputs(paths, dataset, output_scales)
    judgement = bounds.judge(quantized, reference)
    report = FidelityReport(
        dataset=dataset_name,
        samples=len(reference),
        max_abs_error=judgement.max_abs_error,
        mean_abs_error=float(np.abs(quantized - reference).mean()),
        decision=bounds.decision.name if bounds.decision else None,
        agreement=judgement.agreement,
        outputs=bound_records(bounds, judgement),
        within_bounds=judgement.failure is None,
    )
    if bounds.decision is not None:
        report.disagreements = int((bounds.decision.decide(quantized) != bounds.decision.decide(reference)).sum())
    return report
