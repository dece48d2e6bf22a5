"""Measurements that cost real keys and proofs: shared by the tuner's finalists and `bench`.

Proving time is the median of several proofs of one witness (the first includes
loading the pk from disk, like any real proof). Gas is `eth_estimateGas` of
`verifyProof` on a deployed verifier: the figure a consumer contract will pay.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover import ezkl_api
from prover.artifacts import CircuitPaths, SrsRecord
from prover.chain import Chain, contract_at, deploy, estimate_gas
from prover.circuit import setup_keys
from prover.errors import CircuitError
from prover.onchain import instances_of
from prover.proving import proof_bytes
from prover.srs import srs_path_for
from prover.verifier import compile_verifier, render_verifier


@dataclass(frozen=True)
class ProvingCost:
    setup_s: float
    pk_bytes: int
    vk_bytes: int
    prove_s: float
    prove_runs: list[float]
    proof_bytes: int
    proof: Path


def timed_setup(paths: CircuitPaths, srs: SrsRecord) -> float:
    start = time.perf_counter()
    setup_keys(paths, srs_path_for(srs))
    return time.perf_counter() - start


def timed_prove(paths: CircuitPaths, srs: SrsRecord, witness: Path, proof: Path) -> float:
    start = time.perf_counter()
    ezkl_api.prove(witness, paths.compiled, paths.pk, proof, srs_path_for(srs), paths.log)
    return time.perf_counter() - start


def proving_cost(paths: CircuitPaths, srs: SrsRecord, witness: Path, runs: int) -> ProvingCost:
    """Setup, then `runs` proofs of `witness`; the last proof must verify."""
    setup_s = timed_setup(paths, srs)
    proof = paths.root / "measure.proof.json"
    runs_s = [timed_prove(paths, srs, witness, proof) for _ in range(max(runs, 1))]
    if not ezkl_api.verify(proof, paths.settings, paths.vk, srs_path_for(srs), paths.log):
        raise CircuitError(f"a proof of {paths.root} does not verify")
    document = json.loads(proof.read_text())
    return ProvingCost(
        setup_s=setup_s,
        pk_bytes=paths.pk.stat().st_size,
        vk_bytes=paths.vk.stat().st_size,
        prove_s=statistics.median(runs_s),
        prove_runs=runs_s,
        proof_bytes=len(proof_bytes(document)),
        proof=proof,
    )


@dataclass(frozen=True)
class GasCost:
    verify_gas: int
    deploy_gas: int
    runtime_bytes: int


def verifier_gas(chain: Chain, paths: CircuitPaths, srs: SrsRecord, proof: Path, scratch: Path) -> GasCost:
    """Render (into `scratch`), compile and deploy the verifier; estimate verifyProof on `proof`."""
    source = scratch / "Halo2Verifier.sol"
    render_verifier(paths, srs, source, reusable=False)
    compiled = compile_verifier(source, "Halo2Verifier")
    deployed = deploy(chain, compiled.artifact())
    verifier = contract_at(chain, deployed.address, compiled.abi)
    document: dict[str, Any] = json.loads(proof.read_text())
    gas = estimate_gas(chain, verifier, "verifyProof", proof_bytes(document), instances_of(document))
    return GasCost(verify_gas=gas, deploy_gas=deployed.gas_used, runtime_bytes=compiled.runtime_size)
