"""A circuit's Solidity verifier: rendered by ezkl, compiled by our solc, deployed, called.

ezkl renders the .sol (offline, see `ezkl_api.render_evm_verifier`); our pinned solc
compiles it.

One render-and-compile (`compile_verifier`) serves the stored artifact (`build_verifier`),
gas measurements (`measure_verifier_gas`) and audits (`verifier_code_hash`). A deployed verifier is
recorded per chain with the vk it verifies; `ensure_verifier` reuses that record while
the code at its address is still ours, and deploys otherwise.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import BlockIdentifier

from prover import ezkl_api
from prover.artifacts import CircuitPaths, atomic_path, require_file
from prover.errors import ChainError, CircuitError, TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, estimate_gas, transact
from prover.evm.deployments import record_contract, trusted
from prover.evm.node import DEV_CHAIN_ID, is_dev_chain
from prover.evm.solc import (
    EIP170_LIMIT,
    CompiledContract,
    compile_project_contracts,
    compile_sources,
    load_artifact,
    write_artifact,
)
from prover.proving.circuit import Circuit
from prover.proving.proofs import Proof


@dataclass(frozen=True)
class VerifierPaths:
    """Where a model's verifier goes: per-model folders, so two models never collide."""

    workdir: Path
    name: str
    reusable: bool

    @property
    def contract(self) -> str:
        return "Halo2VerifierReusable" if self.reusable else "Halo2Verifier"

    @property
    def source(self) -> Path:
        return self.workdir / "contracts" / "verifiers" / self.name / f"{self.contract}.sol"

    @property
    def artifact(self) -> Path:
        return self.workdir / "out" / self.name / f"{self.contract}.json"

    @property
    def vka(self) -> Path:
        return self.workdir / "out" / self.name / "vka.bin"

    @property
    def made_by(self) -> str:
        return f"prover verifier {self.name}" + (" --reusable" if self.reusable else "")


@dataclass(frozen=True)
class VerifierBuild:
    name: str
    contract: str
    source: Path
    artifact: Path
    runtime_size: int
    vka: Path | None

    @property
    def fits(self) -> bool:
        return self.runtime_size <= EIP170_LIMIT


@dataclass(frozen=True)
class VerifierDeployment:
    """A verifier on a chain: deployed by this call (gas_used set) or reused from the record."""

    address: str
    reusable: bool
    runtime_bytes: int
    gas_used: int | None = None
    vka_digest: str | None = None

    @property
    def reused(self) -> bool:
        return self.gas_used is None


@dataclass(frozen=True)
class OnchainVerification:
    valid: bool
    gas: int | None


#: gas per calldata byte: zero and non-zero (EIP-2028)
ZERO_BYTE_GAS, NONZERO_BYTE_GAS = 4, 16


@dataclass(frozen=True)
class GasCost:
    verify_gas: int
    deploy_gas: int
    runtime_bytes: int
    zero_calldata_bytes: int = 0

    @property
    def comparable_gas(self) -> int:
        """verifyProof's gas with every calldata byte priced as non-zero: a proof's random
        bytes change its zero count, and so its gas, by a few hundred from proof to proof;
        this does not, so two circuits compare the same way on every run."""
        return self.verify_gas + (NONZERO_BYTE_GAS - ZERO_BYTE_GAS) * self.zero_calldata_bytes

    @property
    def fits_eip170(self) -> bool:
        """Deployable on mainnet and most L2s as one contract (else: the reusable verifier + VKA)."""
        return self.runtime_bytes <= EIP170_LIMIT


def render_verifier(paths: CircuitPaths, srs: Path, target: Path, reusable: bool) -> None:
    """Write ezkl's Solidity verifier for this circuit's vk to `target` (atomically)."""
    require_file(paths.vk, f"prover build {paths.name}")
    with atomic_path(target) as tmp:
        ezkl_api.render_evm_verifier(paths.vk, paths.settings, tmp, srs, reusable, paths.log)


def compile_verifier(
    paths: CircuitPaths, srs: Path, reusable: bool = False, source: Path | None = None
) -> CompiledContract:
    """Render and compile the verifier; the .sol goes to `source`, or to a temp file."""
    contract = VerifierPaths(paths.workdir, paths.name, reusable).contract
    with tempfile.TemporaryDirectory(prefix="prover-verifier-") as scratch:
        target = source or Path(scratch) / f"{contract}.sol"
        render_verifier(paths, srs, target, reusable)
        compiled = compile_sources({target.name: target.read_text()})
    if contract not in compiled:
        raise CircuitError(f"the rendered verifier has no contract {contract}")
    return compiled[contract]


def build_verifier(circuit: Circuit, reusable: bool = False) -> VerifierBuild:
    """Render, compile and store the verifier (and, if reusable, the VK artifact)."""
    where = VerifierPaths(circuit.workdir, circuit.name, reusable)
    srs = circuit.srs_path()
    compiled = compile_verifier(circuit.paths, srs, reusable, source=where.source)
    write_artifact(compiled, where.artifact)
    vka = None
    if reusable:
        with atomic_path(where.vka) as tmp:
            ezkl_api.create_evm_vka(circuit.paths.vk, circuit.paths.settings, tmp, srs, circuit.paths.log)
        vka = where.vka
    return VerifierBuild(circuit.name, where.contract, where.source, where.artifact, compiled.runtime_size, vka)


def verifier_key(name: str, reusable: bool = False) -> str:
    """The deployment record's key for a circuit's verifier."""
    return f"{name}.verifier" + (".reusable" if reusable else "")


def read_vka(path: Path) -> list[bytes]:
    """ezkl's VK artifact: bincode Vec<[u8; 32]> (u64 little-endian count, then the words)."""
    data = path.read_bytes()
    count = int.from_bytes(data[:8], "little")
    if len(data) != 8 + 32 * count:
        raise ChainError(f"{path} is not a VK artifact ({len(data)} bytes for {count} words)")
    return [data[8 + 32 * i : 40 + 32 * i] for i in range(count)]


def deploy_verifier(chain: Chain, circuit: Circuit, reusable: bool = False) -> VerifierDeployment:
    """Render + compile (1-2 s) and deploy a fresh verifier; recorded with the vk it verifies.

    The reusable verifier (for circuits whose own would exceed EIP-170) gets this model's
    VK artifact registered in it: the key then lives in calldata, pinned by its digest.
    """
    build = build_verifier(circuit, reusable)
    artifact = load_artifact(build.artifact, VerifierPaths(circuit.workdir, circuit.name, reusable).made_by)
    deployed = deploy(chain, artifact)
    digest = None
    if reusable:
        assert build.vka is not None
        verifier = contract_at(chain, deployed.address, artifact["abi"])
        words = read_vka(build.vka)
        digest = "0x" + bytes(call(chain, verifier, "registerVka", words)).hex()
        transact(chain, verifier, "registerVka", words)
    record_contract(
        chain,
        circuit.workdir,
        verifier_key(circuit.name, reusable),
        deployed,
        artifact,
        vk_sha256=circuit.manifest.files["vk"].sha256,
        runtime_bytes=build.runtime_size,
        **({"vka_digest": digest} if digest else {}),
    )
    return VerifierDeployment(deployed.address, reusable, build.runtime_size, deployed.gas_used, digest)


def deploy_mock_verifier(chain: Chain, circuit: Circuit) -> VerifierDeployment:
    """contracts/test/MockVerifier.sol, which accepts any proof, in place of the circuit's
    verifier: for trying a consumer's policy, and only on a local dev chain. Refused
    anywhere else, whatever the caller asks: a consumer pinned to it would trust anything."""
    if not is_dev_chain(chain.w3, chain.chain_id):
        raise ChainError(
            f"refusing to deploy the mock verifier to chain {chain.chain_id}: it accepts any proof",
            hint=f"the mock is for a local dev chain only (an anvil such as `prover node`, or chain id {DEV_CHAIN_ID})",
        )
    artifact = compile_project_contracts(circuit.workdir / "out", include_tests=True)["MockVerifier"].artifact()
    deployed = deploy(chain, artifact, True)
    record_contract(chain, circuit.workdir, verifier_key(circuit.name) + ".mock", deployed, artifact)
    return VerifierDeployment(
        deployed.address, False, len(bytes.fromhex(artifact["deployedBytecode"][2:])), deployed.gas_used
    )


def deployed_verifier(chain: Chain, circuit: Circuit, reusable: bool = False) -> VerifierDeployment | None:
    """The recorded verifier for this circuit's current vk on this chain, if its code is still ours."""
    entry = trusted(
        chain, circuit.workdir, verifier_key(circuit.name, reusable), vk_sha256=circuit.manifest.files["vk"].sha256
    )
    if entry is None:
        return None
    return VerifierDeployment(
        Web3.to_checksum_address(entry["address"]),
        reusable,
        int(entry.get("runtime_bytes", 0)),
        None,
        entry.get("vka_digest"),
    )


def ensure_verifier(chain: Chain, circuit: Circuit, reusable: bool = False) -> VerifierDeployment:
    """The recorded verifier for this vk, else one deployed now."""
    return deployed_verifier(chain, circuit, reusable) or deploy_verifier(chain, circuit, reusable)


def verify_onchain(
    chain: Chain, circuit: Circuit, proof: Proof | Path, *, address: str | None = None, reusable: bool = False
) -> OnchainVerification:
    """eth_call the verifier through its ABI (a revert or `false` is an invalid proof), then
    its gas. Without `address`, this vk's recorded verifier, or one deployed now."""
    parsed = proof if isinstance(proof, Proof) else circuit.read_proof(proof)
    where = VerifierPaths(circuit.workdir, circuit.name, reusable)
    if address is None:
        address = ensure_verifier(chain, circuit, reusable).address
    verifier = contract_at(chain, address, load_artifact(where.artifact, where.made_by)["abi"])
    args: tuple[Any, ...] = (parsed.raw, parsed.instances)
    if reusable:
        return _verify_reusable(chain, verifier, (*args, read_vka(where.vka)))
    try:
        valid = bool(call(chain, verifier, "verifyProof", *args))
    except TransactionReverted:
        return OnchainVerification(False, None)
    return OnchainVerification(valid, estimate_verify_gas(chain, address, parsed) if valid else None)


def _verify_reusable(chain: Chain, verifier: Any, args: tuple[Any, ...]) -> OnchainVerification:
    """The reusable verifier's return data is not ABI-decodable as declared; read word 0."""
    tx = {
        "to": verifier.address,
        "from": chain.caller,
        "data": verifier.encode_abi("verifyProof", args=list(args)),
    }
    try:
        returned = bytes(chain.w3.eth.call(tx))  # type: ignore[arg-type]
    except (ContractLogicError, ValueError):
        return OnchainVerification(False, None)
    if len(returned) < 32 or int.from_bytes(returned[:32], "big") != 1:
        return OnchainVerification(False, None)
    return OnchainVerification(True, int(chain.w3.eth.estimate_gas(tx)))  # type: ignore[arg-type]


def estimate_verify_gas(
    chain: Chain, verifier_address: str, proof: Proof, block: BlockIdentifier = "latest"
) -> int | None:
    """`verifyProof`'s gas for this proof, estimated once (a consumer's figure); None when
    the verifier refuses it (the consumer's own call then says why, by name)."""
    verifier = chain.w3.eth.contract(address=Web3.to_checksum_address(verifier_address), abi=_VERIFY_PROOF_ABI)
    tx: Any = {"from": chain.caller}
    try:
        return int(verifier.functions.verifyProof(proof.raw, proof.instances).estimate_gas(tx, block_identifier=block))
    except (ContractLogicError, Web3Exception, ValueError):
        return None


def measure_verifier_gas(chain: Chain, paths: CircuitPaths, srs: Path, proof: Proof) -> GasCost:
    """Render, compile and deploy a fresh verifier; estimate verifyProof on `proof`
    (measurements: the tuner's finalists, `compare`, `bench`)."""
    compiled = compile_verifier(paths, srs)
    deployed = deploy(chain, compiled.artifact())
    verifier = contract_at(chain, deployed.address, compiled.abi)
    gas = estimate_gas(chain, verifier, "verifyProof", proof.raw, proof.instances)
    calldata = bytes.fromhex(verifier.encode_abi("verifyProof", args=[proof.raw, proof.instances])[2:])
    return GasCost(
        verify_gas=gas,
        deploy_gas=deployed.gas_used,
        runtime_bytes=compiled.runtime_size,
        zero_calldata_bytes=calldata.count(0),
    )


def verifier_code_hash(circuit: Circuit) -> bytes:
    """keccak of the runtime code the local vk's verifier compiles to: equal to the code at
    a deployed address exactly when that contract verifies this vk."""
    compiled = compile_verifier(circuit.paths, circuit.srs_path())
    return bytes(Web3.keccak(hexstr=compiled.deployed_bytecode))


#: IHalo2Verifier's one function, enough to call any rendered (non-reusable) verifier
_VERIFY_PROOF_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "verifyProof",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "proof", "type": "bytes"}, {"name": "instances", "type": "uint256[]"}],
        "outputs": [{"name": "", "type": "bool"}],
    }
]
