"""zkML toolkit: prove small models' inference with ezkl, verify off-chain and on-chain.

The public API, importable from `prover` alone::

    import prover

    circuit = prover.build("fee")                         # or build("mine", onnx=..., data=...)
    result = circuit.prove("input.json")                   # -> ProofResult (outputs, proof)
    assert circuit.verify(result.proof_path).valid
    with prover.connect() as chain:                        # an embedded anvil, or rpc_url=...
        deployed = prover.deploy_verifier(chain, circuit)
        print(prover.verify_onchain(chain, circuit, result.proof, address=deployed.address))
    rows = prover.compare(["fee"], ["tuned", "hashed-params"])
    pool = prover.get_consumer("fee")

Names resolve lazily (PEP 562): `import prover` costs nothing, and a proving worker that
imports `prover.proving` never loads torch or web3 through this module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "build": "prover.pipeline.builds",
    "open_circuit": "prover.proving.circuit",
    "Circuit": "prover.proving.circuit",
    "ProofResult": "prover.proving.prove",
    "VerifyResult": "prover.proving.prove",
    "Proof": "prover.proving.proofs",
    "prove_batch": "prover.proving.batch",
    "write_input": "prover.proving.prove",
    "FIELD_MODULUS": "prover.proving.field",
    "export_torch": "prover.pipeline.export",
    "connect": "prover.evm.client",
    "Chain": "prover.evm.client",
    "deploy_verifier": "prover.evm.verifier",
    "ensure_verifier": "prover.evm.verifier",
    "verify_onchain": "prover.evm.verifier",
    "compare": "prover.measure.compare",
    "get_consumer": "prover.consumers",
    "register_consumer": "prover.consumers",
    "consumer_names": "prover.consumers",
    "deploy_consumer": "prover.consumers.base",
    "Pin": "prover.consumers.base",
    "pin_for": "prover.consumers.base",
    "submit": "prover.consumers.base",
    "prove_request": "prover.consumers.base",
    "CircuitConfig": "prover.config",
    "Reporter": "prover.progress",
    "PrintReporter": "prover.progress",
    "SilentReporter": "prover.progress",
    "ProverError": "prover.errors",
}

if TYPE_CHECKING:
    from prover.config import CircuitConfig
    from prover.consumers import consumer_names, get_consumer, register_consumer
    from prover.consumers.base import Pin, deploy_consumer, pin_for, prove_request, submit
    from prover.errors import ProverError
    from prover.evm.client import Chain, connect
    from prover.evm.verifier import deploy_verifier, ensure_verifier, verify_onchain
    from prover.measure.compare import compare
    from prover.pipeline.builds import build
    from prover.pipeline.export import export_torch
    from prover.progress import PrintReporter, Reporter, SilentReporter
    from prover.proving.batch import prove_batch
    from prover.proving.circuit import Circuit, open_circuit
    from prover.proving.field import FIELD_MODULUS
    from prover.proving.proofs import Proof
    from prover.proving.prove import ProofResult, VerifyResult, write_input


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prover' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "FIELD_MODULUS",
    "Chain",
    "Circuit",
    "CircuitConfig",
    "Pin",
    "PrintReporter",
    "Proof",
    "ProofResult",
    "ProverError",
    "Reporter",
    "SilentReporter",
    "VerifyResult",
    "build",
    "compare",
    "connect",
    "consumer_names",
    "deploy_consumer",
    "deploy_verifier",
    "ensure_verifier",
    "export_torch",
    "get_consumer",
    "open_circuit",
    "pin_for",
    "prove_batch",
    "prove_request",
    "register_consumer",
    "submit",
    "verify_onchain",
    "write_input",
]
