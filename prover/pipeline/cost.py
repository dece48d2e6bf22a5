"""What a candidate circuit costs to set up and prove, measured for real (the tuner's finalists).

Proving time is the median of several proofs of one sample through the one prove body
(the first includes loading the pk from disk, like any real proof); the last proof must
verify, so a layout that proves garbage never wins on speed.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from prover.artifacts import CircuitPaths
from prover.datasets import Dataset
from prover.errors import CircuitError
from prover.pipeline.compile import setup_keys
from prover.proving.proofs import Proof
from prover.proving.prove import ProvingFiles, prove_sample, verify_proof


@dataclass(frozen=True)
class ProvingCost:
    setup_s: float
    pk_bytes: int
    vk_bytes: int
    prove_s: float
    prove_runs: list[float]
    proof: Proof

    @property
    def proof_bytes(self) -> int:
        return len(self.proof.raw)


def timed_setup(paths: CircuitPaths, srs: Path) -> float:
    """Seconds of one key setup (writes paths.vk and paths.pk)."""
    start = time.perf_counter()
    setup_keys(paths, srs)
    return time.perf_counter() - start


def proving_cost(paths: CircuitPaths, srs: Path, sample: Dataset, output_scales: list[int], runs: int) -> ProvingCost:
    """Setup, then `runs` proofs of `sample`; the last proof must verify."""
    setup_s = timed_setup(paths, srs)
    files = ProvingFiles(paths.compiled, paths.pk, srs, paths.log, output_scales)
    proof_file = paths.root / "measure.proof.json"
    results = [prove_sample(files, sample, proof_file, keep_witness=False) for _ in range(max(runs, 1))]
    if not verify_proof(proof_file, paths.settings, paths.vk, srs, paths.log).valid:
        raise CircuitError(f"a proof of {paths.root} does not verify")
    runs_s = [result.prove_seconds for result in results]
    return ProvingCost(
        setup_s=setup_s,
        pk_bytes=paths.pk.stat().st_size,
        vk_bytes=paths.vk.stat().st_size,
        prove_s=statistics.median(runs_s),
        prove_runs=runs_s,
        proof=results[-1].proof,
    )
