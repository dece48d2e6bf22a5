"""Measurements that cost real keys and proofs: shared by the tuner's finalists and `bench`.

Proving time is the median of several proofs of one witness (the first includes
loading the pk from disk, like any real proof). Gas is `eth_estimateGas` of
`verifyProof` on a deployed verifier: the figure a consumer contract will pay.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover import ezkl_api
from prover.artifacts import CircuitPaths, SrsRecord
from prover.chain import Chain, connect, contract_at, deploy, estimate_gas
from prover.circuit import setup_keys
from prover.errors import CircuitError
from prover.onchain import instances_of
from prover.proving import proof_bytes
from prover.solc import EIP170_LIMIT
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


_CHILD_PROVE = """
import json, sys
from pathlib import Path
from prover.artifacts import circuit_paths, load_manifest
from prover.batch_memory import peak_rss_bytes
from prover.proving import prove
paths = circuit_paths(Path(sys.argv[1]), sys.argv[2])
manifest = load_manifest(paths)
result = prove(paths, manifest, Path(sys.argv[3]), Path(sys.argv[4]))
print(json.dumps({"prove_s": result.prove_seconds, "peak_rss_bytes": peak_rss_bytes()}))
"""
_CHILD_IDLE = """
import json
from prover.artifacts import circuit_paths
from prover.batch_memory import peak_rss_bytes
from prover.proving import prove
print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}))
"""


def _run_child(code: str, *args: str) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ["no output"]
        raise CircuitError(f"measurement child failed: {lines[-1][:300]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def prove_in_child(paths: CircuitPaths, input_file: Path, proof: Path) -> dict[str, Any]:
    """One proof in a fresh process that imports only the proving path (no torch): its
    `prove_s` and `peak_rss_bytes` (VmHWM of that address space alone; wait4's ru_maxrss
    would include pages of the forked parent)."""
    return _run_child(_CHILD_PROVE, str(paths.workdir), paths.name, str(input_file), str(proof))


def idle_child_rss() -> int:
    """Peak RSS of a child that imports the proving path and proves nothing: the floor
    under every `prove_in_child` figure."""
    return int(_run_child(_CHILD_IDLE)["peak_rss_bytes"])


@dataclass(frozen=True)
class GasCost:
    verify_gas: int
    deploy_gas: int
    runtime_bytes: int

    @property
    def fits_eip170(self) -> bool:
        """Deployable on mainnet and most L2s as one contract (else: the reusable verifier + VKA)."""
        return self.runtime_bytes <= EIP170_LIMIT


@contextlib.contextmanager
def measurement_chain() -> Iterator[Chain]:
    """An embedded anvil without the EIP-170 size limit, so an oversize verifier is still
    measured (and flagged by `GasCost.fits_eip170`) instead of failing the whole run."""
    with connect(None, node_args=("--disable-code-size-limit",)) as chain:
        yield chain


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
