"""DESIGN.md's contract rules, each on a real anvil: every rejection by its custom error name.

One anvil per module with the fee verifier, a pool holding 9 calm prices, an empty pool
and the consumer harness; the proofs are made once, in the module fixture. Each test
starts from that state (anvil snapshot/revert) and, for a rejection, checks that the
pool's state did not move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract_env import (
    PARAMS,
    PoolEnv,
    expected_inputs,
    flip,
    pool_args,
    rejected,
    second_account,
    update,
)

from models.fee import WINDOW
from prover.consumers.base import NO_REGISTRY
from prover.errors import TransactionReverted
from prover.evm.client import call, deploy, transact
from prover.evm.node import DEV_ADDRESS, advance_time
from prover.proving.field import FIELD_MODULUS

pytestmark = pytest.mark.chain


# --- Rule 5 and 3: what the proof's instances may be ---------------------------------------


def test_flipped_proof_byte_is_rejected(pool_env: PoolEnv) -> None:
    """A proof changed by one byte must never move the fee."""
    a = pool_env.a
    rejected(
        pool_env, lambda: update(pool_env, a.epoch, flip(a.raw, len(a.raw) // 2), a.instances), "ProofRejected", ()
    )


def test_changed_output_instance_is_rejected(pool_env: PoolEnv) -> None:
    """The proof binds the output: claiming 1% more volatility than proved must fail."""
    a = pool_env.a
    claimed = a.instances[:-1] + [(a.instances[-1] + 2**24) % FIELD_MODULUS]
    assert claimed[-1] < FIELD_MODULUS
    rejected(pool_env, lambda: update(pool_env, a.epoch, a.raw, claimed), "ProofRejected", ())


def test_output_instance_at_modulus_is_not_in_field(pool_env: PoolEnv) -> None:
    """x and x + r verify alike in the verifier; a non-canonical instance must be refused by name."""
    a = pool_env.a
    assert a.instances[:-1] == expected_inputs(pool_env)
    aliased = a.instances[:-1] + [FIELD_MODULUS]
    rejected(
        pool_env, lambda: update(pool_env, a.epoch, a.raw, aliased), "InstanceNotInField", (WINDOW - 1, FIELD_MODULUS)
    )


def test_aliased_output_instance_is_not_in_field(pool_env: PoolEnv) -> None:
    """The honest output plus r is the same field element: it must still be refused, not decoded."""
    a = pool_env.a
    aliased = a.instances[:-1] + [a.instances[-1] + FIELD_MODULUS]
    rejected(
        pool_env,
        lambda: update(pool_env, a.epoch, a.raw, aliased),
        "InstanceNotInField",
        (WINDOW - 1, a.instances[-1] + FIELD_MODULUS),
    )


def test_input_not_matching_observations_is_rejected(pool_env: PoolEnv) -> None:
    """Rule 3: a proof over prices the pool never saw must not move its fee."""
    a = pool_env.a
    changed = [(a.instances[0] + 1) % FIELD_MODULUS] + a.instances[1:]
    rejected(
        pool_env, lambda: update(pool_env, a.epoch, a.raw, changed), "InputMismatch", (0, a.instances[0], changed[0])
    )


def test_all_zero_inputs_are_rejected(pool_env: PoolEnv) -> None:
    """Rule 3, 'nothing matched': zero inputs are not a wildcard."""
    a = pool_env.a
    expected = expected_inputs(pool_env)
    assert expected[0] != 0
    zeros = [0] * (WINDOW - 1) + a.instances[-1:]
    rejected(pool_env, lambda: update(pool_env, a.epoch, a.raw, zeros), "InputMismatch", (0, expected[0], 0))


def test_proof_of_another_circuit_is_rejected(pool_env: PoolEnv) -> None:
    """Rule 2: a valid proof of another model (another vk) with matching inputs must not move the fee."""
    other = pool_env.other
    assert pool_env.other_circuit.manifest.files["vk"].sha256 != pool_env.circuit.manifest.files["vk"].sha256
    assert pool_env.other_circuit.info.input_scales == pool_env.circuit.info.input_scales
    assert len(other.instances) == WINDOW and other.instances[:-1] == expected_inputs(pool_env)
    assert pool_env.other_circuit.verify(other.file).valid, "the foreign proof is valid for its own vk"
    rejected(pool_env, lambda: update(pool_env, other.epoch, other.raw, other.instances), "ProofRejected", ())


def test_wrong_instance_count_is_rejected(pool_env: PoolEnv) -> None:
    """A proof with the output dropped (or an extra instance) is for another circuit shape."""
    a = pool_env.a
    rejected(
        pool_env, lambda: update(pool_env, a.epoch, a.raw, a.instances[:-1]), "WrongInstanceCount", (WINDOW - 1, WINDOW)
    )
    rejected(
        pool_env,
        lambda: update(pool_env, a.epoch, a.raw, a.instances + [0]),
        "WrongInstanceCount",
        (WINDOW + 1, WINDOW),
    )


# --- Rule 4: freshness and replay ------------------------------------------------------------


def test_second_update_in_one_epoch_is_rejected(pool_env: PoolEnv) -> None:
    """Rule 4: one update per epoch, keyed on the epoch, not on the proof bytes (proofs re-randomise)."""
    a, a2 = pool_env.a, pool_env.a2
    assert a2.epoch == a.epoch and a2.instances[:-1] == a.instances[:-1]
    assert a2.raw != a.raw, "a second proof of the same state has other bytes"
    update(pool_env, a.epoch, a.raw, a.instances)
    advance_time(pool_env.chain.w3, PARAMS.min_update_interval_s + 1)  # the rate limit is not what stops it
    rejected(pool_env, lambda: update(pool_env, a.epoch, a.raw, a.instances), "AlreadyUpdated", (a.epoch,))
    rejected(pool_env, lambda: update(pool_env, a2.epoch, a2.raw, a2.instances), "AlreadyUpdated", (a.epoch,))


def test_proof_made_before_new_swaps_is_stale(pool_env: PoolEnv) -> None:
    """Rule 4: once a new price arrives, a proof over the old window must not apply."""
    a = pool_env.a
    transact(pool_env.chain, pool_env.pool, "recordPrice", pool_env.prices[WINDOW])
    rejected(pool_env, lambda: update(pool_env, a.epoch, a.raw, a.instances), "StaleEpoch", (a.epoch, a.epoch + 1))


def test_future_epoch_is_stale(pool_env: PoolEnv) -> None:
    """An epoch the pool has not reached yet is refused too: only the current one is valid."""
    a = pool_env.a
    rejected(pool_env, lambda: update(pool_env, a.epoch + 1, a.raw, a.instances), "StaleEpoch", (a.epoch + 1, a.epoch))


def test_update_too_early_is_rejected(pool_env: PoolEnv) -> None:
    """Rule 6: the update rate is bounded, even for a valid proof of a new epoch."""
    a, b = pool_env.a, pool_env.b
    update(pool_env, a.epoch, a.raw, a.instances)
    last = call(pool_env.chain, pool_env.pool, "lastUpdateTime")
    transact(pool_env.chain, pool_env.pool, "recordPrice", pool_env.prices[WINDOW])
    assert b.epoch == a.epoch + 1 and b.instances[:-1] == expected_inputs(pool_env)
    rejected(
        pool_env,
        lambda: update(pool_env, b.epoch, b.raw, b.instances),
        "TooEarly",
        (last + PARAMS.min_update_interval_s,),
    )
    advance_time(pool_env.chain.w3, PARAMS.min_update_interval_s + 1)
    update(pool_env, b.epoch, b.raw, b.instances)  # the same proof, once the interval has passed
    assert call(pool_env.chain, pool_env.pool, "lastUpdateEpoch") == b.epoch


def test_not_enough_observations_is_rejected(pool_env: PoolEnv) -> None:
    """With fewer than WINDOW prices there is no input to bind to: no update."""
    a, pool = pool_env.a, pool_env.empty_pool
    for price in pool_env.prices[:5]:
        transact(pool_env.chain, pool, "recordPrice", price)
    rejected(
        pool_env,
        lambda: transact(pool_env.chain, pool, "updateFee", 5, a.raw, a.instances),
        "NotEnoughObservations",
        (5, WINDOW),
        pool=pool,
    )
    rejected(
        pool_env, lambda: call(pool_env.chain, pool, "expectedInputs"), "NotEnoughObservations", (5, WINDOW), pool=pool
    )


# --- Rule 6: the owner's controls ----------------------------------------------------------------


def test_update_while_paused_is_rejected(pool_env: PoolEnv) -> None:
    """Rule 6: the owner can stop updates, and a valid proof then waits."""
    a = pool_env.a
    paused = pool_env.pool.events.Paused().process_receipt(transact(pool_env.chain, pool_env.pool, "pause"))
    assert [e["args"]["account"] for e in paused] == [DEV_ADDRESS]
    rejected(pool_env, lambda: update(pool_env, a.epoch, a.raw, a.instances), "EnforcedPause", ())
    rejected(pool_env, lambda: transact(pool_env.chain, pool_env.pool, "pause"), "EnforcedPause", ())
    unpaused = pool_env.pool.events.Unpaused().process_receipt(transact(pool_env.chain, pool_env.pool, "unpause"))
    assert [e["args"]["account"] for e in unpaused] == [DEV_ADDRESS]
    update(pool_env, a.epoch, a.raw, a.instances)
    assert call(pool_env.chain, pool_env.pool, "lastUpdateEpoch") == a.epoch


def test_unpause_when_not_paused_is_rejected(pool_env: PoolEnv) -> None:
    """A no-op unpause is a mistake the owner should hear about."""
    rejected(pool_env, lambda: transact(pool_env.chain, pool_env.pool, "unpause"), "ExpectedPause", ())


def test_non_owner_cannot_record_or_pause(pool_env: PoolEnv) -> None:
    """Prices and the pause switch are the owner's: anyone else could feed the pool its own inputs."""
    stranger = second_account(pool_env.chain)
    assert stranger.address != call(pool_env.chain, pool_env.pool, "owner") == DEV_ADDRESS
    for fn, args in (
        ("recordPrice", (pool_env.prices[0],)),
        ("pause", ()),
        ("unpause", ()),
        ("transferOwnership", (stranger.address,)),
    ):
        rejected(
            pool_env,
            lambda: transact(stranger, pool_env.pool, fn, *args),
            "OwnableUnauthorizedAccount",
            (stranger.address,),
        )


def test_ownership_moves_in_two_steps(pool_env: PoolEnv) -> None:
    """OpenZeppelin's Ownable2Step: the offer changes nothing until the new owner accepts it."""
    chain, pool, stranger = pool_env.chain, pool_env.pool, second_account(pool_env.chain)
    transact(chain, pool, "transferOwnership", stranger.address)
    assert call(chain, pool, "owner") == DEV_ADDRESS and call(chain, pool, "pendingOwner") == stranger.address
    rejected(pool_env, lambda: transact(chain, pool, "acceptOwnership"), "OwnableUnauthorizedAccount", (DEV_ADDRESS,))
    transact(stranger, pool, "acceptOwnership")
    assert call(chain, pool, "owner") == stranger.address
    rejected(pool_env, lambda: transact(chain, pool, "pause"), "OwnableUnauthorizedAccount", (DEV_ADDRESS,))
    transact(stranger, pool, "pause")


def test_ownership_cannot_be_renounced(pool_env: PoolEnv) -> None:
    """An ownerless pool could never record a price or pause again (rule 6): renouncing is refused."""
    for who in (pool_env.chain, second_account(pool_env.chain)):
        rejected(pool_env, lambda: transact(who, pool_env.pool, "renounceOwnership"), "RenounceDisabled", ())
    assert call(pool_env.chain, pool_env.pool, "owner") == DEV_ADDRESS


def test_zero_owner_is_rejected(pool_env: PoolEnv) -> None:
    """A pool owned by nobody could never be paused."""
    zero = "0x0000000000000000000000000000000000000000"
    args = pool_args(pool_env.verifier.address, pool_env.circuit, owner=zero)
    rejected(pool_env, lambda: deploy(pool_env.chain, pool_env.pool_artifact, *args), "OwnableInvalidOwner", (zero,))


def test_anyone_may_submit_a_valid_update(pool_env: PoolEnv) -> None:
    """The proof, not the caller, is trusted: a stranger's valid update applies like the owner's."""
    a = pool_env.a
    update(pool_env, a.epoch, a.raw, a.instances, chain=second_account(pool_env.chain))
    assert (
        call(pool_env.chain, pool_env.pool, "feeBps"),
        call(pool_env.chain, pool_env.pool, "lastUpdateEpoch"),
    ) == pool_env.legit[:2]


def test_invalid_price_is_rejected(pool_env: PoolEnv) -> None:
    """A zero price would divide by zero in the features; a huge one could overflow them."""
    for price in (0, 2**128):
        rejected(pool_env, lambda: transact(pool_env.chain, pool_env.pool, "recordPrice", price), "InvalidPrice", ())
    transact(pool_env.chain, pool_env.pool, "recordPrice", 2**128 - 1)  # the largest accepted price


@pytest.mark.parametrize(
    "changes",
    [
        {"min": 50, "max": 40, "initial": 45},
        {"initial": 4},
        {"initial": 101},
        {"max": 10_001, "initial": 100},
        {"step": 0},
        {"thresholds": [300_000, 300_000, 1_300_000]},
        {"thresholds": [700_000, 300_000, 1_300_000]},
        {"input_scale": 65},
        {"output_scale": 65},
    ],
    ids=[
        "min>max",
        "initial<min",
        "initial>max",
        "max>100%",
        "zero-step",
        "equal-thresholds",
        "unsorted-thresholds",
        "input-scale",
        "output-scale",
    ],
)
def test_inconsistent_config_is_rejected(pool_env: PoolEnv, changes: dict[str, Any]) -> None:
    """Rule 6's bounds only hold if the constructor refuses bounds that contradict themselves."""
    args = pool_args(pool_env.verifier.address, pool_env.circuit, **changes)
    rejected(pool_env, lambda: deploy(pool_env.chain, pool_env.pool_artifact, *args), "InvalidConfig", ())


def test_verifier_without_code_is_rejected(pool_env: PoolEnv) -> None:
    """Rule 2: a consumer pinned to an address with no code would call nothing and trust it."""
    zero = "0x0000000000000000000000000000000000000000"
    for address in (zero, DEV_ADDRESS):
        args = pool_args(address, pool_env.circuit)
        for artifact, ctor_args in (
            (pool_env.pool_artifact, args),
            (pool_env.harness_artifact, [address, NO_REGISTRY, 0]),
        ):
            error = rejected(pool_env, lambda: deploy(pool_env.chain, artifact, *ctor_args), "InvalidVerifier")
            assert [a.lower() for a in error.error_args] == [address.lower()]


# --- ZkmlConsumer through its harness --------------------------------------------------------------


def test_encode_out_of_range_value_is_rejected(pool_env: PoolEnv) -> None:
    """Encoding must not produce a felt that decodes to something else."""
    for value in (2**200, 2**128, -(2**128)):
        rejected(
            pool_env, lambda: call(pool_env.chain, pool_env.harness, "encodeSigned", value), "ValueOutOfRange", (value,)
        )


def test_harness_verify_counts_only_valid_proofs(pool_env: PoolEnv) -> None:
    """`_verify` alone: a valid proof passes; a bad proof or a non-canonical instance is refused by name."""
    a, chain, harness = pool_env.a, pool_env.chain, pool_env.harness
    assert call(chain, harness, "constants") == [FIELD_MODULUS, 2**128]
    for raw, instances, name in (
        (flip(a.raw, 7), a.instances, "ProofRejected"),
        (a.raw, [FIELD_MODULUS] + a.instances[1:], "InstanceNotInField"),
    ):
        with pytest.raises(TransactionReverted) as info:
            transact(chain, harness, "verify", raw, instances)
        assert info.value.error_name == name
        assert call(chain, harness, "verifiedCount") == 0
    receipt = transact(chain, harness, "verify", a.raw, a.instances)
    assert harness.events.ProofAccepted().process_receipt(receipt)[0]["args"]["count"] == 1
    assert call(chain, harness, "verifiedCount") == 1


# --- Rule 7: every custom error has a test -------------------------------------------------------------

ERROR_TESTS = {
    "OwnableUnauthorizedAccount": "test_non_owner_cannot_record_or_pause",
    "OwnableInvalidOwner": "test_zero_owner_is_rejected",
    "RenounceDisabled": "test_ownership_cannot_be_renounced",
    "EnforcedPause": "test_update_while_paused_is_rejected",
    "ExpectedPause": "test_unpause_when_not_paused_is_rejected",
    "InvalidConfig": "test_inconsistent_config_is_rejected",
    "InvalidPrice": "test_invalid_price_is_rejected",
    "NotEnoughObservations": "test_not_enough_observations_is_rejected",
    "StaleEpoch": "test_proof_made_before_new_swaps_is_stale",
    "AlreadyUpdated": "test_second_update_in_one_epoch_is_rejected",
    "TooEarly": "test_update_too_early_is_rejected",
    "WrongInstanceCount": "test_wrong_instance_count_is_rejected",
    "NoInputsBound": "test_consumer_template.py::test_binding_nothing_is_rejected",
    "InputsOverlapOutputs": "test_consumer_template.py::test_inputs_overlapping_outputs_is_rejected",
    "InputMismatch": "test_input_not_matching_observations_is_rejected",
    "InvalidVerifier": "test_verifier_without_code_is_rejected",
    "InstanceNotInField": "test_output_instance_at_modulus_is_not_in_field",
    "ProofRejected": "test_flipped_proof_byte_is_rejected",
    "OutputOutOfRange": "test_onchain.py::test_decode_signed_rejects_the_middle_of_the_field",
    "ValueOutOfRange": "test_encode_out_of_range_value_is_rejected",
    "InvalidRegistry": "test_registry.py::test_registry_without_code_is_refused_at_deployment",
    "InvalidModel": "test_consumer_template.py::test_model_id_must_name_a_model_of_the_registry",
    "UnknownModel": "test_consumer_template.py::test_model_id_must_name_a_model_of_the_registry",
    "UnregisteredArtifact": "test_registry.py::test_unregistered_verifier_is_rejected_by_the_pool",
    "VersionIsRevoked": "test_registry.py::test_revoked_version_stops_the_pool_accepting_its_proofs",
    "CallerNotAllowed": "test_registry.py::test_restricted_model_rejects_callers_not_on_its_allowlist",
}


def test_every_custom_error_has_a_test(pool_env: PoolEnv) -> None:
    """Rule 8: a new custom error of the pool without a test fails here until someone writes
    one (the template's harness and the example consumer have their own such test)."""
    declared = {e["name"] for e in pool_env.pool_artifact["abi"] if e["type"] == "error"}
    assert declared == set(ERROR_TESTS)
    here = Path(__file__)
    for test in ERROR_TESTS.values():
        module, _, name = test.rpartition("::")
        sources = [here.with_name(module)] if module else [here, here.with_name("test_calldata_layout.py")]
        source = "".join(path.read_text() for path in sources)
        assert f"def {name}(" in source, test
