"""Rules 1 and 2 on a real anvil: the verifier only through a typed call, and a pinned model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from contract_env import (
    MUTATING,
    UPDATE_FEE,
    VERIFY_PROOF,
    PoolEnv,
    rejected,
    state,
)

from prover.errors import TransactionReverted
from prover.evm.client import call, send_transaction
from prover.proving.field import FIELD_MODULUS

pytestmark = pytest.mark.chain


# --- Rule 1: the verifier only through a typed call ------------------------------------------------


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def bytes_tail(data: bytes) -> bytes:
    return word(len(data)) + data + b"\0" * (-len(data) % 32)


def array_tail(values: list[int]) -> bytes:
    return word(len(values)) + b"".join(word(v) for v in values)


def send_raw(pool_env: PoolEnv, to: Any, data: bytes) -> Any:
    """A transaction with hand-made calldata, through the same send path `transact` uses."""
    return send_transaction(pool_env.chain, "raw", to.abi, {"to": to.address, "data": "0x" + data.hex(), "value": 0})


def direct_verifier_accepts(pool_env: PoolEnv, data: bytes) -> bool:
    """eth_call the verifier with raw calldata; a revert or anything but `true` is a rejection."""
    try:
        result = pool_env.chain.w3.eth.call({"to": pool_env.verifier.address, "data": "0x" + data.hex()})
    except Exception:
        return False
    return bytes(result) == word(1)


def assert_legit_update(pool_env: PoolEnv, receipt: Any) -> None:
    """The only state change a valid proof of epoch 9 can justify: the one a canonical call makes."""
    fee, epoch, event = pool_env.legit
    assert (call(pool_env.chain, pool_env.pool, "feeBps"), call(pool_env.chain, pool_env.pool, "lastUpdateEpoch")) == (
        fee,
        epoch,
    )
    assert dict(pool_env.pool.events.FeeUpdated().process_receipt(receipt)[0]["args"]) == event


def test_non_canonical_layout_applies_only_the_legit_update(pool_env: PoolEnv) -> None:
    """Rule 1: padding and swapped tails may be accepted, but only with the update the proof justifies."""
    a = pool_env.a
    junk = b"\xee" * 64
    instances_at = 3 * 32 + len(junk)
    proof_at = instances_at + len(array_tail(a.instances)) + 32
    data = (
        UPDATE_FEE
        + word(a.epoch)
        + word(proof_at)
        + word(instances_at)
        + junk
        + array_tail(a.instances)
        + b"\xee" * 32
        + bytes_tail(a.raw)
    )
    assert data != bytes.fromhex(pool_env.pool.encode_abi("updateFee", args=[a.epoch, a.raw, a.instances])[2:])
    before = state(pool_env)
    try:
        receipt = send_raw(pool_env, pool_env.pool, data)
    except TransactionReverted:
        assert state(pool_env) == before
        return
    assert_legit_update(pool_env, receipt)


def test_pool_reencodes_what_it_read_for_the_verifier(pool_env: PoolEnv) -> None:
    """Rule 1: the verifier gets a canonical encoding of the pool's decoded arguments, never the caller's layout."""
    # The canonical slot holds garbage and the honest proof sits where `proof.offset` points:
    # passed through verbatim, the verifier would hash one and evaluate the other, and refuse.
    a = pool_env.a
    garbage = bytes_tail(bytes(len(a.raw)))
    instances_tail = array_tail(a.instances)
    # straight to the verifier, this layout is refused: evaluations are read at fixed offsets
    direct = (
        VERIFY_PROOF
        + word(2 * 32 + len(garbage) + len(instances_tail))
        + word(2 * 32 + len(garbage))
        + garbage
        + instances_tail
        + bytes_tail(a.raw)
    )
    assert not direct_verifier_accepts(pool_env, direct)
    canonical = bytes.fromhex(pool_env.verifier.encode_abi("verifyProof", args=[a.raw, a.instances])[2:])
    assert direct_verifier_accepts(pool_env, canonical)

    through_pool = (
        UPDATE_FEE
        + word(a.epoch)
        + word(3 * 32 + len(garbage) + len(instances_tail))
        + word(3 * 32 + len(garbage))
        + garbage
        + instances_tail
        + bytes_tail(a.raw)
    )
    trace = pool_env.chain.w3.provider.make_request(
        "debug_traceCall",
        [
            {"from": pool_env.chain.address, "to": pool_env.pool.address, "data": "0x" + through_pool.hex()},
            "latest",
            {"tracer": "callTracer"},
        ],
    )["result"]
    calls = [c for c in trace.get("calls", []) if c["to"].lower() == pool_env.verifier.address.lower()]
    assert len(calls) == 1 and calls[0]["type"] == "CALL"
    assert bytes.fromhex(calls[0]["input"].removeprefix("0x")) == canonical
    assert_legit_update(pool_env, send_raw(pool_env, pool_env.pool, through_pool))


@pytest.mark.parametrize("decoy", ["output", "input"])
def test_decoy_instances_cannot_change_what_is_verified(pool_env: PoolEnv, decoy: str) -> None:
    """Rule 1: honest instances in the canonical slot and altered ones at `instances.offset` must not verify."""
    a = pool_env.a
    altered = list(a.instances)
    if decoy == "output":
        altered[-1] = (altered[-1] + 2**24) % FIELD_MODULUS
    else:
        altered[3] = (altered[3] + 1) % FIELD_MODULUS
    proof_tail, honest_tail = bytes_tail(a.raw), array_tail(a.instances)
    decoy_at = len(proof_tail) + len(honest_tail)
    direct = VERIFY_PROOF + word(2 * 32) + word(2 * 32 + decoy_at) + proof_tail + honest_tail + array_tail(altered)
    assert not direct_verifier_accepts(pool_env, direct)
    data = (
        UPDATE_FEE
        + word(a.epoch)
        + word(3 * 32)
        + word(3 * 32 + decoy_at)
        + proof_tail
        + honest_tail
        + array_tail(altered)
    )
    expected = ("ProofRejected", ()) if decoy == "output" else ("InputMismatch", (3, a.instances[3], altered[3]))
    rejected(pool_env, lambda: send_raw(pool_env, pool_env.pool, data), *expected)


def test_instances_read_from_the_decoded_offset_only(pool_env: PoolEnv) -> None:
    """Rule 1, reversed decoy: altered instances in the canonical slot are ignored; the update is the legit one."""
    a = pool_env.a
    altered = a.instances[:-1] + [(a.instances[-1] + 2**24) % FIELD_MODULUS]
    proof_tail, decoy_tail = bytes_tail(a.raw), array_tail(altered)
    data = (
        UPDATE_FEE
        + word(a.epoch)
        + word(3 * 32)
        + word(3 * 32 + len(proof_tail) + len(decoy_tail))
        + proof_tail
        + decoy_tail
        + array_tail(a.instances)
    )
    assert_legit_update(pool_env, send_raw(pool_env, pool_env.pool, data))


@pytest.mark.parametrize("into", [-1, 0, 30])
def test_instances_offset_into_the_proof_is_rejected(pool_env: PoolEnv, into: int) -> None:
    """Rule 1: instances aliased onto proof bytes (length word or data) must revert and change nothing."""
    a = pool_env.a
    instances_at = 3 * 32 + 32 + 32 * into  # inside the proof's tail: its length word (-1) or its data
    data = UPDATE_FEE + word(a.epoch) + word(3 * 32) + word(instances_at) + bytes_tail(a.raw)
    before = state(pool_env)
    with pytest.raises(TransactionReverted):
        send_raw(pool_env, pool_env.pool, data)
    assert state(pool_env) == before


@pytest.mark.parametrize("change", ["none", "64 zero bytes appended", "one word appended", "last word cut"])
def test_proof_length_verdicts_agree_on_and_off_chain(pool_env: PoolEnv, tmp_path: Path, change: str) -> None:
    """The Solidity verifier takes one exact proof length and halo2 ignores trailing bytes:
    `prover verify` must still give the on-chain verdict for every length."""
    a = pool_env.a
    raw = {
        "none": a.raw,
        "64 zero bytes appended": a.raw + bytes(64),
        "one word appended": a.raw + bytes(32),
        "last word cut": a.raw[:-32],
    }[change]
    calldata = bytes.fromhex(pool_env.verifier.encode_abi("verifyProof", args=[raw, a.instances])[2:])
    onchain = direct_verifier_accepts(pool_env, calldata)
    document = {**json.loads(a.file.read_text()), "proof": list(raw), "hex_proof": "0x" + raw.hex()}
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document))
    offchain = pool_env.circuit.verify(path)
    assert (onchain, offchain.valid) == (change == "none", change == "none"), offchain.reason


# --- Rule 2: the model is pinned --------------------------------------------------------------------


def test_verifier_is_pinned_at_construction(pool_env: PoolEnv) -> None:
    """Rule 2: a verifier a caller could swap would accept anything; it is fixed and has no setter."""
    chain, verifier = pool_env.chain, pool_env.verifier.address
    assert call(chain, pool_env.pool, "verifier") == verifier
    assert call(chain, pool_env.harness, "verifier") == verifier
    for artifact in (pool_env.pool_artifact, pool_env.harness_artifact):
        functions = [e for e in artifact["abi"] if e["type"] == "function"]
        takes_address = [f["name"] for f in functions if any("address" in i["type"] for i in f["inputs"])]
        assert set(takes_address) <= {"transferOwnership"}  # OpenZeppelin's Ownable2Step: the owner, never a verifier
    mutating = {
        f["name"]
        for f in pool_env.pool_artifact["abi"]
        if f["type"] == "function" and f["stateMutability"] not in ("view", "pure")
    }
    assert mutating == MUTATING
    assert {e["type"] for e in pool_env.pool_artifact["abi"]} <= {"constructor", "function", "event", "error"}
    # immutable: in the runtime code, in no storage slot
    code = bytes(chain.w3.eth.get_code(pool_env.pool.address))
    assert bytes.fromhex(verifier[2:]) in code
    slots = [int.from_bytes(chain.w3.eth.get_storage_at(pool_env.pool.address, slot), "big") for slot in range(16)]
    assert int(verifier, 16) not in slots
