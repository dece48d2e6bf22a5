"""Pytest plugin: one anvil per test session, snapshots around modules and tests, and the
fee pool's shared on-chain set-up (`pool_env`) with helpers for the contract-rule tests.

Every test that uses the session's chain (directly or through an env fixture) starts from
the state its module set up and leaves it so (anvil's evm_snapshot / evm_revert); a
module's own set-up (`module_chain`) is reverted when the module ends. Test modules import
the helpers they use by name: `from contract_env import PoolEnv, rejected, update`.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.abi import function_signature_to_4byte_selector

from models.fee import FEE_THRESHOLDS, FEE_TIERS_BPS, WINDOW, simulate_prices
from prover.consumers.base import NO_REGISTRY, Pin, consumer_contract, deploy_consumer, prove_request
from prover.consumers.fee import FeeConsumer, PoolParams
from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, connect, contract_at, deploy, transact
from prover.evm.node import DEV_ADDRESS
from prover.evm.solc import compile_project_contracts, load_artifact
from prover.evm.verifier import deploy_verifier
from prover.pipeline.builds import build_reference
from prover.proving.circuit import Circuit, open_circuit

SEED = 11
PARAMS = PoolParams(initial_fee_bps=30, min_fee_bps=5, max_fee_bps=100, max_step_bps=25, min_update_interval_s=60)
# anvil's second dev account (public, funded only on dev chains): not the pool's owner
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
UPDATE_FEE = function_signature_to_4byte_selector("updateFee(uint64,bytes,uint256[])")
VERIFY_PROOF = function_signature_to_4byte_selector("verifyProof(bytes,uint256[])")
OWNERSHIP = {"transferOwnership", "acceptOwnership"}  # renounceOwnership is pure: it always reverts
MUTATING = {"pause", "unpause", "recordPrice", "updateFee"} | OWNERSHIP


# --- the session's chain ------------------------------------------------------------------------


def snapshot(chain: Chain) -> str:
    return str(chain.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]


def revert_to(chain: Chain, snap: str) -> None:
    assert chain.w3.provider.make_request("evm_revert", [snap])["result"] is True  # type: ignore[list-item]


@contextmanager
def reverted(chain: Chain) -> Iterator[Chain]:
    """The chain as it is now, restored after the block whatever it did."""
    snap = snapshot(chain)
    try:
        yield chain
    finally:
        revert_to(chain, snap)


@pytest.fixture(scope="session")
def session_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """One embedded anvil for the whole session, signing with its first dev account."""
    with connect(None, log_dir=tmp_path_factory.mktemp("anvil")) as chain:
        yield chain


@pytest.fixture(scope="module")
def module_chain(session_chain: Chain) -> Iterator[Chain]:
    """The session's chain; whatever the module deploys is gone when the module ends."""
    with reverted(session_chain) as chain:
        yield chain


@pytest.fixture(autouse=True)
def _fresh_chain(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the session's chain leaves it as it found it."""
    if "session_chain" not in request.fixturenames:
        yield
        return
    with reverted(request.getfixturevalue("session_chain")):
        yield


def second_account(chain: Chain) -> Chain:
    """The same node, signing as anvil's second dev account."""
    return chain.signed_by(SECOND_KEY)


def contract_artifact(workdir: Path, name: str, *, tests: bool = False) -> dict[str, Any]:
    """A project contract compiled into `workdir/out` (test-only contracts on request)."""
    return compile_project_contracts(workdir / "out", include_tests=tests)[name].artifact()


# --- the fee pool's shared set-up ---------------------------------------------------------------


@dataclass(frozen=True)
class Proof:
    epoch: int
    raw: bytes
    instances: list[int]
    file: Path


@dataclass(frozen=True)
class PoolEnv:
    chain: Chain
    circuit: Circuit
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
    other_circuit: Circuit
    legit: tuple[int, int, dict[str, Any]]  # (feeBps, lastUpdateEpoch, FeeUpdated args) after submitting `a`


def prove_pool(chain: Chain, pool: Any, circuit: Circuit, out: Path) -> Proof:
    """A proof over the pool's current observations, and the epoch it is for."""
    request, result = prove_request(chain, FeeConsumer(), circuit, pool, out)
    return Proof(request.context["epoch"], result.proof.raw, result.proof.instances, result.proof_path)


def pool_args(verifier: str, circuit: Circuit, **changes: Any) -> list[Any]:
    """AdaptiveFeePool constructor arguments as `FeeConsumer` builds them, with changes."""
    args = {
        "verifier": verifier,
        "registry": NO_REGISTRY,
        "model_id": 0,
        "input_scale": circuit.info.input_scales[0],
        "output_scale": circuit.info.output_scales[0],
        "thresholds": [round(t * 1_000_000) for t in FEE_THRESHOLDS],
        "tiers": list(FEE_TIERS_BPS),
        "initial": PARAMS.initial_fee_bps,
        "min": PARAMS.min_fee_bps,
        "max": PARAMS.max_fee_bps,
        "step": PARAMS.max_step_bps,
        "interval": PARAMS.min_update_interval_s,
        "owner": DEV_ADDRESS,
    }
    unknown = set(changes) - set(args)
    assert not unknown, unknown
    merged = {**args, **changes}
    policy = tuple(merged[key] for key in ("thresholds", "tiers", "initial", "min", "max", "step", "interval"))
    return [
        merged["verifier"],
        merged["registry"],
        merged["model_id"],
        merged["input_scale"],
        merged["output_scale"],
        policy,
        merged["owner"],
    ]


def fee_pool(
    chain: Chain,
    circuit: Circuit,
    verifier: str,
    params: PoolParams = PARAMS,
    registry: str | None = None,
    model_id: int = 0,
) -> Any:
    """A fresh AdaptiveFeePool pinned to `verifier` (and `registry`'s model `model_id`), as
    `prover deploy fee` makes it."""
    consumer = FeeConsumer(params)
    deployed = deploy_consumer(chain, consumer, circuit, Pin(verifier, registry or NO_REGISTRY, model_id))
    return consumer_contract(chain, consumer, circuit, deployed.address)


@pytest.fixture(scope="session")
def pool_env(session_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> PoolEnv:
    """Verifier, pool with 9 calm prices, empty pool, harness; every proof made once."""
    chain = session_chain
    root = tmp_path_factory.mktemp("rules")
    work, other_work = root / "work", root / "other"
    for target in (work, other_work):
        shutil.copytree(built / "circuits" / "fee", target / "circuits" / "fee")
    # same model, same 9 instances and scales, another layout: another vk (export stage is cached)
    circuit = open_circuit("fee", work)
    layout = circuit.info.layout
    build_reference(
        "fee",
        other_work,
        overrides={
            "settings": "manual",
            "input_scale": layout.input_scale,
            "param_scale": layout.param_scale,
            "scale_rebase_multiplier": layout.scale_rebase_multiplier,
            "decomp_base": layout.decomp_base,
            "decomp_legs": layout.decomp_legs + 1,
            "num_inner_cols": layout.num_inner_cols,
        },
    )
    other_circuit = open_circuit("fee", other_work)
    prices = simulate_prices(WINDOW + 2, SEED, "calm")[1:]
    verifier = deploy_verifier(chain, circuit)
    pool = fee_pool(chain, circuit, verifier.address)
    pool_artifact = load_artifact(work / "out" / "AdaptiveFeePool.json", "compile")
    harness_artifact = contract_artifact(work, "ConsumerHarness", tests=True)
    empty_pool = contract_at(
        chain, deploy(chain, pool_artifact, *pool_args(verifier.address, circuit)).address, pool_artifact["abi"]
    )
    harness = contract_at(
        chain, deploy(chain, harness_artifact, verifier.address, NO_REGISTRY, 0).address, harness_artifact["abi"]
    )
    verifier_abi = load_artifact(work / "out" / "fee" / "Halo2Verifier.json", "prover verifier fee")["abi"]
    for price in prices[:WINDOW]:
        transact(chain, pool, "recordPrice", price)
    proofs = root / "proofs"
    a = prove_pool(chain, pool, circuit, proofs / "a.json")
    a2 = prove_pool(chain, pool, circuit, proofs / "a2.json")
    other = prove_pool(chain, pool, other_circuit, proofs / "other.json")
    with reverted(chain):
        transact(chain, pool, "recordPrice", prices[WINDOW])
        b = prove_pool(chain, pool, circuit, proofs / "b.json")
    with reverted(chain):
        receipt = transact(chain, pool, "updateFee", a.epoch, a.raw, a.instances)
        event = dict(pool.events.FeeUpdated().process_receipt(receipt)[0]["args"])
        legit = (call(chain, pool, "feeBps"), call(chain, pool, "lastUpdateEpoch"), event)
    return PoolEnv(
        chain,
        circuit,
        contract_at(chain, verifier.address, verifier_abi),
        pool,
        empty_pool,
        harness,
        pool_artifact,
        harness_artifact,
        prices,
        a,
        a2,
        b,
        other,
        other_circuit,
        legit,
    )


def state(env: PoolEnv, pool: Any = None) -> tuple[Any, ...]:
    pool = env.pool if pool is None else pool
    return tuple(
        call(env.chain, pool, name)
        for name in ("feeBps", "lastUpdateEpoch", "lastUpdateTime", "observationCount", "paused")
    )


def rejected(
    env: PoolEnv, action: Callable[[], Any], name: str, args: tuple[Any, ...] | None = None, pool: Any = None
) -> TransactionReverted:
    """Run `action`; it must revert with custom error `name` (and `args`) and leave the pool as it was."""
    before = state(env, pool)
    with pytest.raises(TransactionReverted) as info:
        action()
    assert info.value.error_name == name, (info.value.error_name, info.value.error_args)
    if args is not None:
        assert plain(info.value.error_args) == plain(args)
    assert state(env, pool) == before
    return info.value


def plain(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Addresses compared case-insensitively: eth_abi decodes them in lower case."""
    return tuple(v.lower() if isinstance(v, str) else v for v in values)


def update(env: PoolEnv, epoch: int, raw: bytes, instances: list[int], chain: Chain | None = None) -> Any:
    return transact(chain or env.chain, env.pool, "updateFee", epoch, raw, instances)


def flip(raw: bytes, position: int) -> bytes:
    changed = bytearray(raw)
    changed[position] ^= 0x01
    return bytes(changed)


def expected_inputs(env: PoolEnv) -> list[int]:
    return [int(v) for v in call(env.chain, env.pool, "expectedInputs")]
