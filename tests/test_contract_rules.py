"""DESIGN.md's contract rules, each on a real anvil: every rejection by its custom error name.

One anvil per module with the fee verifier, a pool holding 9 calm prices, an empty pool
and the consumer harness; the proofs are made once, in the module fixture. Each test
starts from that state (anvil snapshot/revert) and, for a rejection, checks that the
pool's state did not move.
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
from prover.onchain import PoolParams, deploy_fee_pool, deploy_verifier, fee_pool, instances_of, prove_pool_state
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
        "verifier": verifier, "input_scale": manifest.info.input_scales[0],
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
    build_reference("fee", other_work, overrides={"decomp_legs": 4})
    paths, manifest = open_circuit("fee", work)
    other_paths, other_manifest = open_circuit("fee", other_work)
    prices = simulate_prices(WINDOW + 2, SEED, "calm")[1:]
    with connect(None, log_dir=root) as chain:
        verifier = deploy_verifier(chain, paths, manifest)
        pool = fee_pool(chain, work, deploy_fee_pool(chain, work, verifier.address, manifest, PARAMS).address)
        pool_artifact = load_artifact(work / "out" / "AdaptiveFeePool.json", "compile")
        harness_artifact = load_artifact(work / "out" / "ConsumerHarness.json", "compile")
        empty_pool = contract_at(chain, deploy(chain, pool_artifact, *pool_args(verifier.address, manifest)).address,
                                 pool_artifact["abi"])
        harness = contract_at(chain, deploy(chain, harness_artifact, verifier.address).address,
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


# --- Rule 5 and 3: what the proof's instances may be ---------------------------------------


def test_flipped_proof_byte_is_rejected(env: Env) -> None:
    """A proof changed by one byte must never move the fee."""
    a = env.a
    rejected(env, lambda: update(env, a.epoch, flip(a.raw, len(a.raw) // 2), a.instances), "ProofRejected", ())


def test_changed_output_instance_is_rejected(env: Env) -> None:
    """The proof binds the output: claiming 1% more volatility than proved must fail."""
    a = env.a
    claimed = a.instances[:-1] + [(a.instances[-1] + 2**24) % FIELD_MODULUS]
    assert claimed[-1] < FIELD_MODULUS
    rejected(env, lambda: update(env, a.epoch, a.raw, claimed), "ProofRejected", ())


def test_output_instance_at_modulus_is_not_in_field(env: Env) -> None:
    """x and x + r verify alike in the verifier; a non-canonical instance must be refused by name."""
    a = env.a
    assert a.instances[:-1] == expected_inputs(env)
    aliased = a.instances[:-1] + [FIELD_MODULUS]
    rejected(env, lambda: update(env, a.epoch, a.raw, aliased), "InstanceNotInField", (WINDOW - 1, FIELD_MODULUS))


def test_aliased_output_instance_is_not_in_field(env: Env) -> None:
    """The honest output plus r is the same field element: it must still be refused, not decoded."""
    a = env.a
    aliased = a.instances[:-1] + [a.instances[-1] + FIELD_MODULUS]
    rejected(env, lambda: update(env, a.epoch, a.raw, aliased), "InstanceNotInField",
             (WINDOW - 1, a.instances[-1] + FIELD_MODULUS))


def test_input_not_matching_observations_is_rejected(env: Env) -> None:
    """Rule 3: a proof over prices the pool never saw must not move its fee."""
    a = env.a
    changed = [(a.instances[0] + 1) % FIELD_MODULUS] + a.instances[1:]
    rejected(env, lambda: update(env, a.epoch, a.raw, changed), "InputMismatch", (0, a.instances[0], changed[0]))


def test_all_zero_inputs_are_rejected(env: Env) -> None:
    """Rule 3, 'nothing matched': zero inputs are not a wildcard."""
    a = env.a
    expected = expected_inputs(env)
    assert expected[0] != 0
    zeros = [0] * (WINDOW - 1) + a.instances[-1:]
    rejected(env, lambda: update(env, a.epoch, a.raw, zeros), "InputMismatch", (0, expected[0], 0))


def test_proof_of_another_circuit_is_rejected(env: Env) -> None:
    """Rule 2: a valid proof of another model (another vk) with matching inputs must not move the fee."""
    other = env.other
    assert env.other_manifest.files["vk"].sha256 != env.manifest.files["vk"].sha256
    assert env.other_manifest.info is not None and env.manifest.info is not None
    assert env.other_manifest.info.input_scales == env.manifest.info.input_scales
    assert len(other.instances) == WINDOW and other.instances[:-1] == expected_inputs(env)
    assert verify(env.other_paths, env.other_manifest, other.file).valid, "the foreign proof is valid for its own vk"
    rejected(env, lambda: update(env, other.epoch, other.raw, other.instances), "ProofRejected", ())


def test_wrong_instance_count_is_rejected(env: Env) -> None:
    """A proof with the output dropped (or an extra instance) is for another circuit shape."""
    a = env.a
    rejected(env, lambda: update(env, a.epoch, a.raw, a.instances[:-1]), "WrongInstanceCount", (WINDOW - 1, WINDOW))
    rejected(env, lambda: update(env, a.epoch, a.raw, a.instances + [0]), "WrongInstanceCount", (WINDOW + 1, WINDOW))


# --- Rule 4: freshness and replay ------------------------------------------------------------


def test_second_update_in_one_epoch_is_rejected(env: Env) -> None:
    """Rule 4: one update per epoch, keyed on the epoch, not on the proof bytes (proofs re-randomise)."""
    a, a2 = env.a, env.a2
    assert a2.epoch == a.epoch and a2.instances[:-1] == a.instances[:-1]
    assert a2.raw != a.raw, "a second proof of the same state has other bytes"
    update(env, a.epoch, a.raw, a.instances)
    advance_time(env.chain.w3, PARAMS.min_update_interval_s + 1)  # the rate limit is not what stops it
    rejected(env, lambda: update(env, a.epoch, a.raw, a.instances), "AlreadyUpdated", (a.epoch,))
    rejected(env, lambda: update(env, a2.epoch, a2.raw, a2.instances), "AlreadyUpdated", (a.epoch,))


def test_proof_made_before_new_swaps_is_stale(env: Env) -> None:
    """Rule 4: once a new price arrives, a proof over the old window must not apply."""
    a = env.a
    transact(env.chain, env.pool, "recordPrice", env.prices[WINDOW])
    rejected(env, lambda: update(env, a.epoch, a.raw, a.instances), "StaleEpoch", (a.epoch, a.epoch + 1))


def test_future_epoch_is_stale(env: Env) -> None:
    """An epoch the pool has not reached yet is refused too: only the current one is valid."""
    a = env.a
    rejected(env, lambda: update(env, a.epoch + 1, a.raw, a.instances), "StaleEpoch", (a.epoch + 1, a.epoch))


def test_update_too_early_is_rejected(env: Env) -> None:
    """Rule 6: the update rate is bounded, even for a valid proof of a new epoch."""
    a, b = env.a, env.b
    update(env, a.epoch, a.raw, a.instances)
    last = call(env.chain, env.pool, "lastUpdateTime")
    transact(env.chain, env.pool, "recordPrice", env.prices[WINDOW])
    assert b.epoch == a.epoch + 1 and b.instances[:-1] == expected_inputs(env)
    rejected(env, lambda: update(env, b.epoch, b.raw, b.instances), "TooEarly", (last + PARAMS.min_update_interval_s,))
    advance_time(env.chain.w3, PARAMS.min_update_interval_s + 1)
    update(env, b.epoch, b.raw, b.instances)  # the same proof, once the interval has passed
    assert call(env.chain, env.pool, "lastUpdateEpoch") == b.epoch


def test_not_enough_observations_is_rejected(env: Env) -> None:
    """With fewer than WINDOW prices there is no input to bind to: no update."""
    a, pool = env.a, env.empty_pool
    for price in env.prices[:5]:
        transact(env.chain, pool, "recordPrice", price)
    rejected(env, lambda: transact(env.chain, pool, "updateFee", 5, a.raw, a.instances),
             "NotEnoughObservations", (5, WINDOW), pool=pool)
    rejected(env, lambda: call(env.chain, pool, "expectedInputs"), "NotEnoughObservations", (5, WINDOW), pool=pool)


# --- Rule 6: the owner's controls ----------------------------------------------------------------


def test_update_while_paused_is_rejected(env: Env) -> None:
    """Rule 6: the owner can stop updates, and a valid proof then waits."""
    a = env.a
    paused = env.pool.events.Paused().process_receipt(transact(env.chain, env.pool, "pause"))
    assert [e["args"]["account"] for e in paused] == [DEV_ADDRESS]
    rejected(env, lambda: update(env, a.epoch, a.raw, a.instances), "EnforcedPause", ())
    rejected(env, lambda: transact(env.chain, env.pool, "pause"), "EnforcedPause", ())
    unpaused = env.pool.events.Unpaused().process_receipt(transact(env.chain, env.pool, "unpause"))
    assert [e["args"]["account"] for e in unpaused] == [DEV_ADDRESS]
    update(env, a.epoch, a.raw, a.instances)
    assert call(env.chain, env.pool, "lastUpdateEpoch") == a.epoch


def test_unpause_when_not_paused_is_rejected(env: Env) -> None:
    """A no-op unpause is a mistake the owner should hear about."""
    rejected(env, lambda: transact(env.chain, env.pool, "unpause"), "ExpectedPause", ())


def test_non_owner_cannot_record_or_pause(env: Env) -> None:
    """Prices and the pause switch are the owner's: anyone else could feed the pool its own inputs."""
    stranger = second_account(env)
    assert stranger.address != call(env.chain, env.pool, "owner") == DEV_ADDRESS
    for fn, args in (("recordPrice", (env.prices[0],)), ("pause", ()), ("unpause", ())):
        rejected(env, lambda: transact(stranger, env.pool, fn, *args), "NotOwner", ())


def test_anyone_may_submit_a_valid_update(env: Env) -> None:
    """The proof, not the caller, is trusted: a stranger's valid update applies like the owner's."""
    a = env.a
    update(env, a.epoch, a.raw, a.instances, chain=second_account(env))
    assert (call(env.chain, env.pool, "feeBps"), call(env.chain, env.pool, "lastUpdateEpoch")) == env.legit[:2]


def test_invalid_price_is_rejected(env: Env) -> None:
    """A zero price would divide by zero in the features; a huge one could overflow them."""
    for price in (0, 2**128):
        rejected(env, lambda: transact(env.chain, env.pool, "recordPrice", price), "InvalidPrice", ())
    transact(env.chain, env.pool, "recordPrice", 2**128 - 1)  # the largest accepted price


@pytest.mark.parametrize("changes", [
    {"min": 50, "max": 40, "initial": 45},
    {"initial": 4},
    {"initial": 101},
    {"max": 10_001, "initial": 100},
    {"step": 0},
    {"thresholds": [300_000, 300_000, 1_300_000]},
    {"thresholds": [700_000, 300_000, 1_300_000]},
    {"input_scale": 65},
    {"output_scale": 65},
], ids=["min>max", "initial<min", "initial>max", "max>100%", "zero-step", "equal-thresholds",
        "unsorted-thresholds", "input-scale", "output-scale"])
def test_inconsistent_config_is_rejected(env: Env, changes: dict[str, Any]) -> None:
    """Rule 6's bounds only hold if the constructor refuses bounds that contradict themselves."""
    args = pool_args(env.verifier.address, env.manifest, **changes)
    rejected(env, lambda: deploy(env.chain, env.pool_artifact, *args), "InvalidConfig", ())


def test_verifier_without_code_is_rejected(env: Env) -> None:
    """Rule 2: a consumer pinned to an address with no code would call nothing and trust it."""
    zero = "0x0000000000000000000000000000000000000000"
    for address in (zero, DEV_ADDRESS):
        args = pool_args(address, env.manifest)
        for artifact, ctor_args in ((env.pool_artifact, args), (env.harness_artifact, [address])):
            error = rejected(env, lambda: deploy(env.chain, artifact, *ctor_args), "InvalidVerifier")
            assert [a.lower() for a in error.error_args] == [address.lower()]


# --- ZkmlConsumer through its harness --------------------------------------------------------------


def test_encode_out_of_range_value_is_rejected(env: Env) -> None:
    """Encoding must not produce a felt that decodes to something else."""
    for value in (2**200, 2**128, -(2**128)):
        rejected(env, lambda: call(env.chain, env.harness, "encodeSigned", value), "ValueOutOfRange", (value,))


def test_harness_verify_counts_only_valid_proofs(env: Env) -> None:
    """`_verify` alone: a valid proof passes; a bad proof or a non-canonical instance is refused by name."""
    a, chain, harness = env.a, env.chain, env.harness
    assert call(chain, harness, "constants") == [FIELD_MODULUS, 2**128]
    for raw, instances, name in ((flip(a.raw, 7), a.instances, "ProofRejected"),
                                 (a.raw, [FIELD_MODULUS] + a.instances[1:], "InstanceNotInField")):
        with pytest.raises(TransactionReverted) as info:
            transact(chain, harness, "verify", raw, instances)
        assert info.value.error_name == name
        assert call(chain, harness, "verifiedCount") == 0
    receipt = transact(chain, harness, "verify", a.raw, a.instances)
    assert harness.events.ProofAccepted().process_receipt(receipt)[0]["args"]["count"] == 1
    assert call(chain, harness, "verifiedCount") == 1


# --- Rule 1: the verifier only through a typed call ------------------------------------------------


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def bytes_tail(data: bytes) -> bytes:
    return word(len(data)) + data + b"\0" * (-len(data) % 32)


def array_tail(values: list[int]) -> bytes:
    return word(len(values)) + b"".join(word(v) for v in values)


def send_raw(env: Env, to: Any, data: bytes) -> Any:
    """A transaction with hand-made calldata, through the same send path `transact` uses."""
    return send_transaction(env.chain, "raw", to.abi, {"to": to.address, "data": "0x" + data.hex(), "value": 0})


def direct_verifier_accepts(env: Env, data: bytes) -> bool:
    """eth_call the verifier with raw calldata; a revert or anything but `true` is a rejection."""
    try:
        result = env.chain.w3.eth.call({"to": env.verifier.address, "data": "0x" + data.hex()})
    except Exception:  # noqa: BLE001 - any revert is a rejection here
        return False
    return bytes(result) == word(1)


def assert_legit_update(env: Env, receipt: Any) -> None:
    """The only state change a valid proof of epoch 9 can justify: the one a canonical call makes."""
    fee, epoch, event = env.legit
    assert (call(env.chain, env.pool, "feeBps"), call(env.chain, env.pool, "lastUpdateEpoch")) == (fee, epoch)
    assert dict(env.pool.events.FeeUpdated().process_receipt(receipt)[0]["args"]) == event


def test_non_canonical_layout_applies_only_the_legit_update(env: Env) -> None:
    """Rule 1: padding and swapped tails may be accepted, but only with the update the proof justifies."""
    a = env.a
    junk = b"\xee" * 64
    instances_at = 3 * 32 + len(junk)
    proof_at = instances_at + len(array_tail(a.instances)) + 32
    data = (UPDATE_FEE + word(a.epoch) + word(proof_at) + word(instances_at) + junk + array_tail(a.instances)
            + b"\xee" * 32 + bytes_tail(a.raw))
    assert data != bytes.fromhex(env.pool.encode_abi("updateFee", args=[a.epoch, a.raw, a.instances])[2:])
    before = state(env)
    try:
        receipt = send_raw(env, env.pool, data)
    except TransactionReverted:
        assert state(env) == before
        return
    assert_legit_update(env, receipt)


def test_pool_reencodes_what_it_read_for_the_verifier(env: Env) -> None:
    """Rule 1: the verifier gets a canonical encoding of the pool's decoded arguments, never the caller's layout."""
    # The canonical slot holds garbage and the honest proof sits where `proof.offset` points:
    # passed through verbatim, the verifier would hash one and evaluate the other, and refuse.
    a = env.a
    garbage = bytes_tail(bytes(len(a.raw)))
    instances_tail = array_tail(a.instances)
    # straight to the verifier, this layout is refused: evaluations are read at fixed offsets
    direct = (VERIFY_PROOF + word(2 * 32 + len(garbage) + len(instances_tail)) + word(2 * 32 + len(garbage))
              + garbage + instances_tail + bytes_tail(a.raw))
    assert not direct_verifier_accepts(env, direct)
    canonical = bytes.fromhex(env.verifier.encode_abi("verifyProof", args=[a.raw, a.instances])[2:])
    assert direct_verifier_accepts(env, canonical)

    through_pool = (UPDATE_FEE + word(a.epoch) + word(3 * 32 + len(garbage) + len(instances_tail))
                    + word(3 * 32 + len(garbage)) + garbage + instances_tail + bytes_tail(a.raw))
    trace = env.chain.w3.provider.make_request("debug_traceCall", [
        {"from": env.chain.address, "to": env.pool.address, "data": "0x" + through_pool.hex()},
        "latest", {"tracer": "callTracer"}])["result"]
    calls = [c for c in trace.get("calls", []) if c["to"].lower() == env.verifier.address.lower()]
    assert len(calls) == 1 and calls[0]["type"] == "CALL"
    assert bytes.fromhex(calls[0]["input"].removeprefix("0x")) == canonical
    assert_legit_update(env, send_raw(env, env.pool, through_pool))


@pytest.mark.parametrize("decoy", ["output", "input"])
def test_decoy_instances_cannot_change_what_is_verified(env: Env, decoy: str) -> None:
    """Rule 1: honest instances in the canonical slot and altered ones at `instances.offset` must not verify."""
    a = env.a
    altered = list(a.instances)
    if decoy == "output":
        altered[-1] = (altered[-1] + 2**24) % FIELD_MODULUS
    else:
        altered[3] = (altered[3] + 1) % FIELD_MODULUS
    proof_tail, honest_tail = bytes_tail(a.raw), array_tail(a.instances)
    decoy_at = len(proof_tail) + len(honest_tail)
    direct = (VERIFY_PROOF + word(2 * 32) + word(2 * 32 + decoy_at) + proof_tail + honest_tail
              + array_tail(altered))
    assert not direct_verifier_accepts(env, direct)
    data = (UPDATE_FEE + word(a.epoch) + word(3 * 32) + word(3 * 32 + decoy_at) + proof_tail + honest_tail
            + array_tail(altered))
    expected = ("ProofRejected", ()) if decoy == "output" else ("InputMismatch", (3, a.instances[3], altered[3]))
    rejected(env, lambda: send_raw(env, env.pool, data), *expected)


def test_instances_read_from_the_decoded_offset_only(env: Env) -> None:
    """Rule 1, reversed decoy: altered instances in the canonical slot are ignored; the update is the legit one."""
    a = env.a
    altered = a.instances[:-1] + [(a.instances[-1] + 2**24) % FIELD_MODULUS]
    proof_tail, decoy_tail = bytes_tail(a.raw), array_tail(altered)
    data = (UPDATE_FEE + word(a.epoch) + word(3 * 32) + word(3 * 32 + len(proof_tail) + len(decoy_tail))
            + proof_tail + decoy_tail + array_tail(a.instances))
    assert_legit_update(env, send_raw(env, env.pool, data))


@pytest.mark.parametrize("into", [-1, 0, 30])
def test_instances_offset_into_the_proof_is_rejected(env: Env, into: int) -> None:
    """Rule 1: instances aliased onto proof bytes (length word or data) must revert and change nothing."""
    a = env.a
    instances_at = 3 * 32 + 32 + 32 * into  # inside the proof's tail: its length word (-1) or its data
    data = UPDATE_FEE + word(a.epoch) + word(3 * 32) + word(instances_at) + bytes_tail(a.raw)
    before = state(env)
    with pytest.raises(TransactionReverted):
        send_raw(env, env.pool, data)
    assert state(env) == before


# --- Rule 2: the model is pinned --------------------------------------------------------------------


def test_verifier_is_pinned_at_construction(env: Env) -> None:
    """Rule 2: a verifier a caller could swap would accept anything; it is fixed and has no setter."""
    chain, verifier = env.chain, env.verifier.address
    assert call(chain, env.pool, "verifier") == verifier
    assert call(chain, env.harness, "verifier") == verifier
    for artifact in (env.pool_artifact, env.harness_artifact):
        functions = [e for e in artifact["abi"] if e["type"] == "function"]
        takes_address = [f["name"] for f in functions if any("address" in i["type"] for i in f["inputs"])]
        assert takes_address == []
    mutating = {f["name"] for f in env.pool_artifact["abi"]
                if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")}
    assert mutating == MUTATING
    assert {e["type"] for e in env.pool_artifact["abi"]} <= {"constructor", "function", "event", "error"}
    # immutable: in the runtime code, in no storage slot
    code = bytes(chain.w3.eth.get_code(env.pool.address))
    assert bytes.fromhex(verifier[2:]) in code
    slots = [int.from_bytes(chain.w3.eth.get_storage_at(env.pool.address, slot), "big") for slot in range(16)]
    assert int(verifier, 16) not in slots


# --- Rule 7: every custom error has a test -------------------------------------------------------------

ERROR_TESTS = {
    "NotOwner": "test_non_owner_cannot_record_or_pause",
    "EnforcedPause": "test_update_while_paused_is_rejected",
    "ExpectedPause": "test_unpause_when_not_paused_is_rejected",
    "InvalidConfig": "test_inconsistent_config_is_rejected",
    "InvalidPrice": "test_invalid_price_is_rejected",
    "NotEnoughObservations": "test_not_enough_observations_is_rejected",
    "StaleEpoch": "test_proof_made_before_new_swaps_is_stale",
    "AlreadyUpdated": "test_second_update_in_one_epoch_is_rejected",
    "TooEarly": "test_update_too_early_is_rejected",
    "WrongInstanceCount": "test_wrong_instance_count_is_rejected",
    "InputMismatch": "test_input_not_matching_observations_is_rejected",
    "InvalidVerifier": "test_verifier_without_code_is_rejected",
    "InstanceNotInField": "test_output_instance_at_modulus_is_not_in_field",
    "ProofRejected": "test_flipped_proof_byte_is_rejected",
    "OutputOutOfRange": "test_onchain.py::test_decode_signed_rejects_the_middle_of_the_field",
    "ValueOutOfRange": "test_encode_out_of_range_value_is_rejected",
}


def test_every_custom_error_has_a_test(env: Env) -> None:
    """Rule 7: a new custom error without a test fails here until someone writes one."""
    declared = {e["name"] for artifact in (env.pool_artifact, env.harness_artifact)
                for e in artifact["abi"] if e["type"] == "error"}
    assert declared == set(ERROR_TESTS)
    here = Path(__file__)
    for test in ERROR_TESTS.values():
        module, _, name = test.rpartition("::")
        source = (here.with_name(module) if module else here).read_text()
        assert f"def {name}(" in source, test
