"""Figures for the reference models: logrows, rows, key sizes, proving time, fidelity.

Run: .venv/bin/python bench/reference_models.py [--runs 5]
Proving time is the median of --runs proofs of held-out inputs, models interleaved so
machine noise hits both alike. Figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import prover
from models import get_model

NAMES = ("fee", "digits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    setup_seconds = {}
    for name in NAMES:
        circuit = prover.build(name, workdir)
        setup_seconds[name] = circuit.manifest.stages["setup"].seconds
    times: dict[str, list[float]] = {name: [] for name in NAMES}
    proof_sizes: dict[str, int] = {}
    for run in range(args.runs):
        for name in NAMES:
            circuit = prover.open_circuit(name, workdir)
            sample = workdir / f"{name}-{run}.json"
            prover.write_input(sample, [get_model(name).heldout_set()[run : run + 1]])
            result = circuit.prove(sample, workdir / f"{name}-{run}.proof.json")
            assert circuit.verify(result.proof_path).valid
            times[name].append(result.prove_seconds)
            proof_sizes[name] = result.proof_bytes
    rows = {}
    for name in NAMES:
        manifest = prover.open_circuit(name, workdir).manifest
        info, fidelity = manifest.info, manifest.fidelity
        rows[name] = {
            "logrows": info.logrows,
            "rows": info.num_rows,
            "input_scale": info.input_scales[0],
            "pk_bytes": manifest.files["pk"].bytes,
            "vk_bytes": manifest.files["vk"].bytes,
            "setup_s": setup_seconds[name],
            "prove_s_median": round(statistics.median(times[name]), 3),
            "proof_bytes": proof_sizes[name],
            "max_abs_error": round(fidelity.max_abs_error, 5),
            "mean_abs_error": round(fidelity.mean_abs_error, 5),
            "agreement": fidelity.agreement,
            "heldout_samples": fidelity.samples,
        }
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
