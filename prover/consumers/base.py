"""A consumer: one Solidity contract on `ZkmlConsumer` plus one Python class that drives it.

The contract decides what a proof must be about (`_expectedInputs`) and what a verified
output changes; the Python side (`Consumer`) knows how to deploy the contract, how to
read what it expects as integer instances at one pinned block, and which function to
call with the proof. Everything else is shared and lives here: deploy-and-record, the
submit flow (read at one block, prove in memory, check the instances match before any
gas is spent, send), and the way a chain's integers become a sample for the prover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from web3 import Web3
from web3.contract import Contract

from prover.datasets import Dataset
from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, DeployResult, call, contract_at, deploy, transact
from prover.evm.deployments import has_code, record_contract, trusted
from prover.evm.solc import compile_project_contracts, load_artifact
from prover.evm.verifier import VerifierDeployment, ensure_verifier, estimate_verify_gas
from prover.progress import Reporter
from prover.proving.circuit import Circuit
from prover.proving.field import fixed_to_float
from prover.proving.proofs import Proof
from prover.proving.prove import ProofResult
from prover.registry.contract import find_model, open_registry, registry_of
from prover.registry.versions import active_version_for

#: a consumer contract deployed with this registry address checks no registry
NO_REGISTRY = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class Pin:
    """What a consumer contract trusts, fixed at deployment: the verifier it calls, and the
    registry and model whose active versions it accepts (NO_REGISTRY and 0 for none).

    The model id is pinned, not found from the verifier: anyone may register any verifier
    under a model of their own, so only the versions of this one model count."""

    verifier: str
    registry: str = NO_REGISTRY
    model_id: int = 0


@dataclass(frozen=True)
class Request:
    """What a consumer expects a proof over right now: the input instances (field elements,
    circuit order) read at `block`, and whatever its submit call needs besides the proof."""

    block: int
    inputs: list[int]
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    """A proof a consumer accepted: the transaction, its cost, and what it changed."""

    consumer: str
    block: int
    tx_hash: str
    gas_used: int
    verify_gas: int | None
    prove_seconds: float
    proof_bytes: int
    outputs: list[list[float]]
    details: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """JSON-able: the consumer's own facts first, then the costs."""
        return {
            **self.details,
            "gas_used": self.gas_used,
            "verify_gas": self.verify_gas,
            "prove_seconds": self.prove_seconds,
            "proof_bytes": self.proof_bytes,
            "block": self.block,
            "tx_hash": self.tx_hash,
        }


@dataclass(frozen=True)
class DemoReport:
    """A consumer's end-to-end story as a table a renderer can show and a document to print."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    facts: list[str]
    document: dict[str, Any]


class Consumer(Protocol):
    """The Python half of a consumer contract. Register an implementation with
    `prover.consumers.register_consumer` or the `prover.consumers` entry point group."""

    @property
    def name(self) -> str:
        """The lookup key (`prover deploy NAME`, `prover submit NAME`) and the default circuit."""
        ...

    @property
    def contract(self) -> str:
        """The contract's name among the compiled project contracts."""
        ...

    @property
    def description(self) -> str:
        """One line for `prover consumers`."""
        ...

    def constructor_args(self, circuit: Circuit, pin: Pin, owner: str) -> list[Any]:
        """The contract's constructor arguments: pinned to `pin` (its verifier, registry and
        model id, which `ZkmlConsumer`'s constructor takes first), owned by `owner` (the
        deploying account)."""
        ...

    def read_request(
        self, chain: Chain, contract: Contract, circuit: Circuit, block: int, request_file: Path | None
    ) -> Request:
        """What the contract expects a proof over at `block` (reads pinned to that block);
        `request_file` is the user's own input where the chain does not hold it."""
        ...

    def submit_call(self, request: Request, proof: Proof) -> tuple[str, list[Any]]:
        """The contract function that takes the proof, and its arguments."""
        ...

    def outcome(
        self, chain: Chain, contract: Contract, circuit: Circuit, request: Request, proof: Proof, receipt: Any
    ) -> dict[str, Any]:
        """What the accepted proof changed, read from the receipt's events and the chain."""
        ...

    def summary(self, submission: Submission) -> list[tuple[str, str]]:
        """(label, value) lines a renderer shows for one submission."""
        ...


@runtime_checkable
class Demonstrable(Protocol):
    """A consumer that can also tell its whole story (`prover demo NAME`); optional."""

    def demo(
        self, workdir: Path, reporter: Reporter, rpc_url: str | None = None, private_key: str | None = None
    ) -> DemoReport:
        """The story on a chain, from building the circuit; every figure from the chain."""
        ...


def consumer_key(circuit: str) -> str:
    """The deployment record's key for the consumer contract of circuit `circuit` (the
    record names which consumer it is, so two circuits never share a record)."""
    return f"{circuit}.consumer"


def compiled_consumer(consumer: Consumer, workdir: Path) -> dict[str, Any]:
    """The consumer contract's artifact, compiled from the project's sources into `workdir/out`."""
    compiled = compile_project_contracts(workdir / "out")
    if consumer.contract not in compiled:
        raise ProverError(
            f"no contract {consumer.contract} among the project's contracts",
            hint="put its source under contracts/src (see docs/consumers.md)",
        )
    return compiled[consumer.contract].artifact()


def deploy_consumer(chain: Chain, consumer: Consumer, circuit: Circuit, pin: Pin) -> DeployResult:
    """Deploy the consumer pinned to `pin`, recorded for this chain."""
    artifact = compiled_consumer(consumer, circuit.workdir)
    args = consumer.constructor_args(circuit, pin, chain.address)
    deployed = deploy(chain, artifact, *args)
    record_contract(
        chain,
        circuit.workdir,
        consumer_key(circuit.name),
        deployed,
        artifact,
        consumer=consumer.name,
        contract=consumer.contract,
        verifier=pin.verifier,
        registry=None if pin.registry == NO_REGISTRY else pin.registry,
        model_id=pin.model_id or None,
    )
    return deployed


def pin_for(
    chain: Chain, circuit: Circuit, *, registry: str | None = None, model_id: int | None = None
) -> tuple[Pin, VerifierDeployment]:
    """What a consumer of this build is pinned to, every argument checked before the first
    transaction.

    With a registry (the one given, else the one this workdir registered the circuit in)
    the verifier is not deployed here but taken from the registry: the newest active version
    of the model that is this build (`active_version_for`), so the consumer accepts exactly
    what `register` recorded, whichever ran first. Without one, this vk's recorded verifier,
    else a new one.
    """
    if registry is None and model_id is None:
        registry = registry_of(chain, circuit.workdir, circuit.name)
        if registry is None:
            verifier = ensure_verifier(chain, circuit)
            return Pin(verifier.address), verifier
    contract = open_registry(chain, circuit.workdir, registry)
    model = find_model(chain, contract, circuit.workdir, circuit.name, model_id=model_id)
    _, address = active_version_for(chain, contract, model.model_id, circuit)
    return Pin(address, str(contract.address), model.model_id), VerifierDeployment(address, False, 0)


def consumer_contract(chain: Chain, consumer: Consumer, circuit: Circuit, address: str | None = None) -> Contract:
    """The deployed consumer: the given address, else the one recorded for this circuit and
    consumer on this chain (while its code is still the code deployed)."""
    artifact = load_artifact(circuit.workdir / "out" / f"{consumer.contract}.json", f"prover deploy {circuit.name}")
    if address is None:
        entry = trusted(chain, circuit.workdir, consumer_key(circuit.name), consumer=consumer.name)
        if entry is None:
            raise ChainError(
                f"no {consumer.contract} recorded for {circuit.name!r} on chain {chain.chain_id}",
                hint=f"run `prover deploy {circuit.name} --rpc-url ...` first",
            )
        address = str(entry["address"])
    elif not has_code(chain, address):
        raise ChainError(f"no contract at {address} on chain {chain.chain_id}")
    return contract_at(chain, Web3.to_checksum_address(address), artifact["abi"])


def sample_from_inputs(circuit: Circuit, inputs: list[int]) -> Dataset:
    """A chain's input instances as the sample that proves over them: each felt read as
    signed fixed point at its input's scale, which ezkl quantises back to the same felt."""
    info, sample, start = circuit.info, [], 0
    for shape, scale in zip(info.input_shapes, info.input_scales, strict=True):
        size = math.prod(shape)
        values = fixed_to_float(inputs[start : start + size], scale)
        if len(values) != size:
            raise ProverError(
                f"the consumer expects {len(inputs)} inputs, circuit {circuit.name!r} takes "
                f"{sum(math.prod(s) for s in info.input_shapes)}"
            )
        sample.append(np.asarray(values, dtype=np.float64).reshape(1, *shape))
        start += size
    return sample


def prove_request(
    chain: Chain,
    consumer: Consumer,
    circuit: Circuit,
    contract: Contract,
    proof_out: Path,
    request_file: Path | None = None,
    block: int | None = None,
) -> tuple[Request, ProofResult]:
    """What the contract expects at `block` (default: the latest), proved: the request and
    the proof, checked to carry exactly the expected inputs. Nothing is sent."""
    block = int(chain.w3.eth.block_number) if block is None else block
    request = consumer.read_request(chain, contract, circuit, block, request_file)
    result = circuit.prove_sample(
        sample_from_inputs(circuit, request.inputs), proof_out, source=f"{consumer.contract} inputs at block {block}"
    )
    if result.proof.instances[: len(request.inputs)] != request.inputs:
        raise ChainError(
            f"the proof's inputs differ from what {consumer.contract} expects",
            hint="the circuit's input scale must match the contract's (redeploy it)",
        )
    return request, result


def submit(
    chain: Chain,
    consumer: Consumer,
    circuit: Circuit,
    contract: Contract,
    proof_out: Path,
    request_file: Path | None = None,
) -> Submission:
    """Read what the contract expects at one block, prove it, check, send; what changed.

    Every read is pinned to that block, the sample goes to the prover in memory, the proof
    is parsed once, and the verifier runs once outside the transaction (for its gas).
    """
    request, result = prove_request(chain, consumer, circuit, contract, proof_out, request_file)
    proof = result.proof
    verifier = str(call(chain, contract, "verifier", block=request.block))
    gas = estimate_verify_gas(chain, verifier, proof, request.block)
    function, args = consumer.submit_call(request, proof)
    receipt = transact(chain, contract, function, *args)
    return Submission(
        consumer=consumer.name,
        block=request.block,
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        gas_used=int(receipt["gasUsed"]),
        verify_gas=gas,
        prove_seconds=result.prove_seconds,
        proof_bytes=len(proof.raw),
        outputs=result.outputs,
        details=consumer.outcome(chain, contract, circuit, request, proof, receipt),
    )
