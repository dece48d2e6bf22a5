"""Shared set-up for the contract-rule tests: one anvil per test module, proofs made once.

The chain holds the fee verifier, a pool with 9 calm prices, an empty pool and the
consumer harness; each test starts from that state (anvil snapshot/revert).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector

from models.fee import FEE_THRESHOLDS, FEE_TIERS_BPS, WINDOW, simulate_prices
from prover.artifacts import CircuitPaths, Manifest
from prover.chain import DEV_ADDRESS, Chain, send_transaction, advance_time, call, connect, contract_at, deploy, transact
from prover.errors import TransactionReverted
from prover.onchain import NO_REGISTRY, PoolParams, deploy_fee_pool, deploy_verifier, fee_pool, instances_of, prove_pool_state
from prover.pipeline import build_reference, open_circuit
from prover.proving import FIELD_MODULUS, proof_bytes, verify
from prover.solc import load_artifact

SEED = 11
PARAMS = PoolParams(initial_fee_bps=30, min_fee_bps=5, max_fee_bps=100, max_step_bps=25, min_update_interval_s=60)
# anvil's second dev account (public, funded only on dev chains): not the pool's owner
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
UPDATE_FEE = function_signature_to_4byte_selector("updateFee(uint64,bytes,uint256[])")
VERIFY_PROOF = function_signature_to_4byte_selector("verifyProof(bytes,uint256[])")
MUTATING = {"pause", "unpause", "recordPrice", "updateFee"}


@dataclass(frozen=True)
class Proof:
    epoch: int
    raw: bytes
    instances: list[int]
    file: Path


@dataclass(frozen=True)
class Env:
    chain: Chain
    manifest: Manifest
    verifier: Any
    pool: Any
    empty_pool: Any
    harness: Any
    pool_artifact: dict[str, Any]
    harness_artifact: dict[str, Any]
    prices: list[int]
    a: Proof  # epoch 9, the pool's state
    a2: Proof  # epoch 9 again, proved a second time
    b: Proof  # epoch 10, after prices[9] is recorded
    other: Proof  # epoch 9, from a different fee circuit (another vk)
    other_paths: CircuitPaths
    other_manifest: Manifest
    legit: tuple[int, int, dict[str, Any]]  # (feeBps, lastUpdateEpoch, FeeUpdated args) after submitting `a`


def load(epoch: int, path: Path) -> Proof:
    document = json.loads(path.read_text())
    return Proof(epoch, proof_bytes(document), instances_of(document), path)


def snapshot(chain: Chain) -> str:
    return str(chain.w3.provider.make_request("evm_snapshot", [])["result"])


def revert_to(chain: Chain, snap: str) -> None:
    assert chain.w3.provider.make_request("evm_revert", [snap])["result"] is True


def pool_args(verifier: str, manifest: Manifest, **changes: Any) -> list[Any]:
    """AdaptiveFeePool constructor arguments as `deploy_fee_pool` builds them, with changes."""
    assert manifest.info is not None
    args = {
        "verifier": verifier, "registry": NO_REGISTRY, "input_scale": manifest.info.input_scales[0],
        "output_scale": manifest.info.output_scales[0],
        "thresholds": [round(t * 1_000_000) for t in FEE_THRESHOLDS], "tiers": list(FEE_TIERS_BPS),
        "initial": PARAMS.initial_fee_bps, "min": PARAMS.min_fee_bps, "max": PARAMS.max_fee_bps,
        "step": PARAMS.max_step_bps, "interval": PARAMS.min_update_interval_s,
    }
    unknown = set(changes) - set(args)
    assert not unknown, unknown
    return list({**args, **changes}.values())


@pytest.fixture(scope="module")
def env(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One anvil: verifier, pool with 9 calm prices, empty pool, harness; every proof made once."""
    root = tmp_path_factory.mktemp("rules")
    work, other_work = root / "work", root / "other"
    for target in (work, other_work):
        shutil.copytree(built / "circuits" / "fee", target / "circuits" / "fee")
    # same model, same 9 instances and scales, another layout: another vk (export stage is cached)
    paths, manifest = open_circuit("fee", work)
    assert manifest.info is not None
    layout = manifest.info.layout
    build_reference("fee", other_work, overrides={
        "settings": "manual", "input_scale": layout.input_scale, "param_scale": layout.param_scale,
        "scale_rebase_multiplier": layout.scale_rebase_multiplier, "decomp_base": layout.decomp_base,
        "decomp_legs": layout.decomp_legs + 1, "num_inner_cols": layout.num_inner_cols})
    other_paths, other_manifest = open_circuit("fee", other_work)
    prices = simulate_prices(WINDOW + 2, SEED, "calm")[1:]
    with connect(None, log_dir=root) as chain:
        verifier = deploy_verifier(chain, paths, manifest)
        pool = fee_pool(chain, work, deploy_fee_pool(chain, work, verifier.address, manifest, PARAMS).address)
        pool_artifact = load_artifact(work / "out" / "AdaptiveFeePool.json", "compile")
        harness_artifact = load_artifact(work / "out" / "ConsumerHarness.json", "compile")
        empty_pool = contract_at(chain, deploy(chain, pool_artifact, *pool_args(verifier.address, manifest)).address,
                                 pool_artifact["abi"])
        harness = contract_at(chain, deploy(chain, harness_artifact, verifier.address, NO_REGISTRY).address,
                              harness_artifact["abi"])
        verifier_abi = load_artifact(work / "out" / "fee" / "Halo2Verifier.json", "prover verifier fee")["abi"]
        for price in prices[:WINDOW]:
            transact(chain, pool, "recordPrice", price)
        proofs = root / "proofs"
        a = load(*prove_pool_state(pool, chain, paths, manifest, proofs / "a.json")[:2])
        a2 = load(*prove_pool_state(pool, chain, paths, manifest, proofs / "a2.json")[:2])
        other = load(*prove_pool_state(pool, chain, other_paths, other_manifest, proofs / "other.json")[:2])
        snap = snapshot(chain)
        transact(chain, pool, "recordPrice", prices[WINDOW])
        b = load(*prove_pool_state(pool, chain, paths, manifest, proofs / "b.json")[:2])
        revert_to(chain, snap)
        snap = snapshot(chain)
        receipt = transact(chain, pool, "updateFee", a.epoch, a.raw, a.instances)
        event = dict(pool.events.FeeUpdated().process_receipt(receipt)[0]["args"])
        legit = (call(chain, pool, "feeBps"), call(chain, pool, "lastUpdateEpoch"), event)
        revert_to(chain, snap)
        yield Env(chain, manifest, contract_at(chain, verifier.address, verifier_abi), pool, empty_pool, harness,
                  pool_artifact, harness_artifact, prices, a, a2, b, other, other_paths, other_manifest, legit)


@pytest.fixture(autouse=True)
def fresh_chain(env: Env) -> Iterator[None]:
    """Every test starts from the module's chain state and leaves it as it found it."""
    snap = snapshot(env.chain)
    yield
    revert_to(env.chain, snap)


def state(env: Env, pool: Any = None) -> tuple[Any, ...]:
    pool = env.pool if pool is None else pool
    return tuple(call(env.chain, pool, name) for name in
                 ("feeBps", "lastUpdateEpoch", "lastUpdateTime", "observationCount", "paused"))


def rejected(env: Env, action: Any, name: str, args: tuple[Any, ...] | None = None, pool: Any = None) -> TransactionReverted:
    """Run `action`; it must revert with custom error `name` (and `args`) and leave the pool as it was."""
    before = state(env, pool)
    with pytest.raises(TransactionReverted) as info:
        action()
    assert info.value.error_name == name, (info.value.error_name, info.value.error_args)
    if args is not None:
        assert info.value.error_args == args
    assert state(env, pool) == before
    return info.value


def update(env: Env, epoch: int, raw: bytes, instances: list[int], chain: Chain | None = None) -> Any:
    return transact(chain or env.chain, env.pool, "updateFee", epoch, raw, instances)


def flip(raw: bytes, position: int) -> bytes:
    changed = bytearray(raw)
    changed[position] ^= 0x01
    return bytes(changed)


def second_account(env: Env) -> Chain:
    return Chain(w3=env.chain.w3, account=Account.from_key(SECOND_KEY), chain_id=env.chain.chain_id)


def expected_inputs(env: Env) -> list[int]:
    return [int(v) for v in call(env.chain, env.pool, "expectedInputs")]
