"""On-chain stages: deploy a model's verifier (and the fee pool), verify, submit updates.

Python recomputes the pool's integer features with the same formula the contract uses
(`models.fee.fixed_point_features`), so the proof's public inputs match the chain bit for
bit; the proof is checked against the pool's `expectedInputs()` before any gas is spent.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from web3 import Web3
from web3.exceptions import ContractLogicError

from models.fee import FEE_THRESHOLDS, FEE_TIERS_BPS, fixed_point_features
from prover import ezkl_api
from prover.artifacts import CircuitPaths, Manifest
from prover.chain import Chain, DeployResult, call, contract_at, deploy, estimate_gas, transact
from prover.deployments import load_deployments, record_deployment
from prover.errors import ChainError, TransactionReverted
from prover.proving import felt_to_int_le, load_proof, proof_bytes, prove, write_input
from prover.solc import compile_project_contracts, load_artifact
from prover.verifier import VerifierPaths, build_verifier


#: a consumer contract deployed with this registry address checks no registry
NO_REGISTRY = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class PoolParams:
    """Fee policy baked into the pool at deployment: the model can only move it within these."""

    initial_fee_bps: int = 30
    min_fee_bps: int = 5
    max_fee_bps: int = 100
    max_step_bps: int = 25
    min_update_interval_s: int = 60


@dataclass(frozen=True)
class OnchainVerification:
    valid: bool
    gas: int | None


@dataclass(frozen=True)
class FeeUpdate:
    epoch: int
    old_fee_bps: int
    new_fee_bps: int
    volatility: float
    gas_used: int
    verify_gas: int | None
    prove_seconds: float
    proof_bytes: int


def instances_of(document: dict[str, Any]) -> list[int]:
    """The proof's public instances, flattened, as integers (ezkl writes little-endian hex)."""
    return [felt_to_int_le(felt) for group in document["instances"] for felt in group]


def verifier_key(name: str, reusable: bool = False) -> str:
    return f"{name}.verifier" + (".reusable" if reusable else "")


def deploy_verifier(chain: Chain, paths: CircuitPaths, manifest: Manifest) -> DeployResult:
    """Render + compile (1-2 s) and deploy; recorded with the vk hash it verifies."""
    build = build_verifier(paths, manifest)
    result = deploy(chain, load_artifact(build.artifact, f"prover verifier {paths.name}"))
    code_hash = Web3.keccak(chain.w3.eth.get_code(result.address)).hex()
    record_deployment(paths.workdir, chain.chain_id, verifier_key(paths.name), {
        "address": result.address, "vk_sha256": manifest.files["vk"].sha256, "gas_used": result.gas_used,
        "runtime_bytes": build.runtime_size, "code_hash": code_hash,
    })
    return result


def read_vka(path: Path) -> list[bytes]:
    """ezkl's VK artifact: bincode Vec<[u8; 32]> (u64 little-endian count, then the words)."""
    data = path.read_bytes()
    count = int.from_bytes(data[:8], "little")
    if len(data) != 8 + 32 * count:
        raise ChainError(f"{path} is not a VK artifact ({len(data)} bytes for {count} words)")
    return [data[8 + 32 * i : 40 + 32 * i] for i in range(count)]


def deploy_reusable_verifier(chain: Chain, paths: CircuitPaths, manifest: Manifest) -> DeployResult:
    """ezkl's reusable verifier plus this model's VK artifact registered in it.

    For circuits whose own verifier would exceed EIP-170: the verifying key lives in
    calldata (the VKA), pinned by the digest `registerVka` returns.
    """
    build = build_verifier(paths, manifest, reusable=True)
    assert build.vka is not None
    artifact = load_artifact(build.artifact, f"prover verifier {paths.name} --reusable")
    result = deploy(chain, artifact)
    verifier = contract_at(chain, result.address, artifact["abi"])
    words = read_vka(build.vka)
    digest = call(chain, verifier, "registerVka", words)
    transact(chain, verifier, "registerVka", words)
    record_deployment(paths.workdir, chain.chain_id, verifier_key(paths.name, reusable=True), {
        "address": result.address, "vk_sha256": manifest.files["vk"].sha256, "gas_used": result.gas_used,
        "runtime_bytes": build.runtime_size, "vka_digest": "0x" + bytes(digest).hex(),
        "code_hash": Web3.keccak(chain.w3.eth.get_code(result.address)).hex(),
    })
    return result


def deployed_verifier(chain: Chain, paths: CircuitPaths, manifest: Manifest, reusable: bool = False) -> str | None:
    """The recorded verifier for this circuit's current vk on this chain, if any (and live)."""
    entry = load_deployments(paths.workdir, chain.chain_id).get(verifier_key(paths.name, reusable))
    if entry is None or entry.get("vk_sha256") != manifest.files["vk"].sha256:
        return None
    # A restarted dev chain reuses addresses: trust the record only if the code is ours.
    if Web3.keccak(chain.w3.eth.get_code(entry["address"])).hex() != entry.get("code_hash"):
        return None
    return str(entry["address"])


def verify_onchain(
    chain: Chain, paths: CircuitPaths, address: str, proof_file: Path, reusable: bool = False
) -> OnchainVerification:
    """eth_call the verifier through its ABI; a revert or `false` is an invalid proof."""
    document = load_proof(proof_file, paths)
    where = VerifierPaths(paths.workdir, paths.name, reusable)
    artifact = load_artifact(where.artifact, f"prover verifier {paths.name}" + (" --reusable" if reusable else ""))
    verifier = contract_at(chain, address, artifact["abi"])
    args: tuple[Any, ...] = (proof_bytes(document), instances_of(document))
    if reusable:
        args = (*args, read_vka(where.vka))
    if reusable:
        return _verify_reusable(chain, verifier, args)
    try:
        valid = bool(call(chain, verifier, "verifyProof", *args))
    except TransactionReverted:
        return OnchainVerification(False, None)
    gas = estimate_gas(chain, verifier, "verifyProof", *args) if valid else None
    return OnchainVerification(valid, gas)


def _verify_reusable(chain: Chain, verifier: Any, args: tuple[Any, ...]) -> OnchainVerification:
    """The reusable verifier's return data is not ABI-decodable as declared; read word 0."""
    tx = {"to": verifier.address, "from": chain.account.address,
          "data": verifier.encode_abi("verifyProof", args=list(args))}
    try:
        returned = bytes(chain.w3.eth.call(tx))  # type: ignore[arg-type]
    except (ContractLogicError, ValueError):
        return OnchainVerification(False, None)
    if len(returned) < 32 or int.from_bytes(returned[:32], "big") != 1:
        return OnchainVerification(False, None)
    return OnchainVerification(True, int(chain.w3.eth.estimate_gas(tx)))  # type: ignore[arg-type]


def deploy_fee_pool(chain: Chain, workdir: Path, verifier: str, manifest: Manifest, params: PoolParams,
                    registry: str | None = None) -> DeployResult:
    """The pool pinned to `verifier` and to the circuit's input and output scales; with a
    `registry`, every update also needs the model version active and the caller allowed."""
    assert manifest.info is not None
    artifact = compile_project_contracts(workdir / "out")["AdaptiveFeePool"].artifact()
    thresholds = [round(t * 1_000_000) for t in FEE_THRESHOLDS]
    result = deploy(
        chain, artifact, verifier, registry or NO_REGISTRY, manifest.info.input_scales[0], manifest.info.output_scales[0],
        thresholds, list(FEE_TIERS_BPS), params.initial_fee_bps, params.min_fee_bps, params.max_fee_bps,
        params.max_step_bps, params.min_update_interval_s,
    )
    record_deployment(workdir, chain.chain_id, "fee.pool", {
        "address": result.address, "verifier": verifier, "registry": registry, "gas_used": result.gas_used,
    })
    return result


def fee_pool(chain: Chain, workdir: Path, address: str | None = None) -> Any:
    """The deployed pool: the given address, else the one recorded for this chain."""
    if address is None:
        entry = load_deployments(workdir, chain.chain_id).get("fee.pool")
        if entry is None:
            raise ChainError(f"no fee pool recorded for chain {chain.chain_id}",
                             hint="run `prover deploy fee --rpc-url ...` first (or `prover demo`)")
        address = entry["address"]
    artifact = load_artifact(workdir / "out" / "AdaptiveFeePool.json", "prover deploy fee")
    return contract_at(chain, address, artifact["abi"])


def prove_pool_state(pool: Any, chain: Chain, paths: CircuitPaths, manifest: Manifest, proof_out: Path) -> tuple[int, Path, float]:
    """Prove the model on the pool's own last observations; returns (epoch, proof, seconds)."""
    assert manifest.info is not None
    block = chain.w3.eth.block_number  # one block for both reads: a price in between would mislabel the epoch
    epoch = int(call(chain, pool, "currentEpoch", block=block))
    prices = [int(p) for p in call(chain, pool, "observations", block=block)]
    scale = manifest.info.input_scales[0]
    features = np.asarray(fixed_point_features(prices, scale), dtype=np.float64) / 2**scale
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch) / "input.json"
        write_input(sample, [features.reshape(1, 1, -1)])
        result = prove(paths, manifest, sample, proof_out)
    return epoch, result.proof_path, result.prove_seconds


def submit_fee_update(chain: Chain, pool: Any, paths: CircuitPaths, manifest: Manifest, proof_out: Path) -> FeeUpdate:
    """Prove over the pool's observations and send `updateFee`; the fee before and after."""
    assert manifest.info is not None
    epoch, proof_file, seconds = prove_pool_state(pool, chain, paths, manifest, proof_out)
    document = load_proof(proof_file, paths)
    instances = instances_of(document)
    expected = [int(v) for v in call(chain, pool, "expectedInputs")]
    if instances[: len(expected)] != expected:
        raise ChainError("the proof's inputs differ from the pool's expected inputs",
                         hint="the circuit's input scale must match the pool's (redeploy the pool)")
    old_fee = int(call(chain, pool, "feeBps"))
    raw = proof_bytes(document)
    verifier_address = str(call(chain, pool, "verifier"))
    verification = verify_onchain(chain, paths, verifier_address, proof_file)
    receipt = transact(chain, pool, "updateFee", epoch, raw, instances)
    new_fee = int(call(chain, pool, "feeBps"))
    output_felt = document["instances"][-1][-1]
    volatility = ezkl_api.felt_to_float(output_felt, manifest.info.output_scales[0])
    return FeeUpdate(
        epoch=epoch, old_fee_bps=old_fee, new_fee_bps=new_fee, volatility=volatility,
        gas_used=int(receipt["gasUsed"]), verify_gas=verification.gas, prove_seconds=seconds,
        proof_bytes=len(raw),
    )
