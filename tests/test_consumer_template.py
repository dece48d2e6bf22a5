"""The `ZkmlConsumer` template through its test harness, on a real anvil with the real compiler.

`ConsumerHarness.accept` runs `_acceptProof` with caller-chosen expected inputs, shape and
freshness key, so every check is reached by its custom error name, in the template's
order: instance count, registry, input binding, freshness, field range + verifier, output
decoding. `MockVerifier` stands in for the proof system (true, false or revert), and a
real `ModelRegistry` for the registry. Every rejection is checked to change no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from contract_env import second_account
from web3 import Web3
from web3.contract import Contract

from prover.consumers.base import NO_REGISTRY
from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, transact
from prover.evm.solc import EIP170_LIMIT, compile_project_contracts
from prover.proving.field import FIELD_MODULUS

pytestmark = pytest.mark.chain

MAX_ABS = 2**128
KEY = b"\x11" * 32
OTHER_KEY = b"\x22" * 32
PROOF = b"\x01" * 64
EXPECTED = [3, 1, 4, 1, 5, 9, 2, 6]  # the harness's default shape: 8 inputs + 1 output
MODEL = 1  # the model `guarded` is pinned to, owned by the chain's first account
ZERO32 = b"\x00" * 32


def felt(value: int) -> int:
    """A signed value as the field element that carries it."""
    return value % FIELD_MODULUS


@dataclass(frozen=True)
class TemplateEnv:
    chain: Chain
    artifacts: dict[str, dict[str, Any]]
    mock: Contract
    harness: Contract  # no registry
    registry: Contract
    guarded: Contract  # consults `registry`, pinned to its model MODEL


def _deployed(chain: Chain, artifact: dict[str, Any], *args: Any) -> Contract:
    return contract_at(chain, deploy(chain, artifact, *args).address, artifact["abi"])


@pytest.fixture(scope="module")
def template_env(module_chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> TemplateEnv:
    """On the session's anvil: a mock verifier, a harness without registry, a registry with
    one model (no versions) and a harness pinned to that model."""
    chain, out = module_chain, tmp_path_factory.mktemp("template")
    compiled = compile_project_contracts(out / "out", include_tests=True)
    artifacts = {name: compiled[name].artifact() for name in ("ConsumerHarness", "MockVerifier", "ModelRegistry")}
    mock = _deployed(chain, artifacts["MockVerifier"], True)
    harness = _deployed(chain, artifacts["ConsumerHarness"], mock.address, NO_REGISTRY, 0)
    registry = _deployed(chain, artifacts["ModelRegistry"])
    transact(chain, registry, "createModel", "template")
    guarded = _deployed(chain, artifacts["ConsumerHarness"], mock.address, registry.address, MODEL)
    return TemplateEnv(chain, artifacts, mock, harness, registry, guarded)


def state(template_env: TemplateEnv, harness: Contract) -> tuple[Any, ...]:
    """Everything a call could change: the harness's counters and keys, the verifier's calls."""
    chain = template_env.chain
    return (
        call(chain, harness, "acceptedCount"),
        call(chain, harness, "verifiedCount"),
        call(chain, harness, "used", KEY),
        call(chain, harness, "used", OTHER_KEY),
        call(chain, template_env.mock, "calls"),
    )


def rejected(
    template_env: TemplateEnv,
    action: Callable[[], Any],
    name: str,
    args: tuple[Any, ...] | None = None,
    harness: Contract | None = None,
) -> TransactionReverted:
    """`action` must revert with custom error `name` (and `args`) and leave the state as it was."""
    harness = template_env.harness if harness is None else harness
    before = state(template_env, harness)
    with pytest.raises(TransactionReverted) as info:
        action()
    assert info.value.error_name == name, (info.value.error_name, info.value.error_args)
    if args is not None:
        assert info.value.error_args == args
    assert state(template_env, harness) == before
    return info.value


def accept(
    template_env: TemplateEnv,
    instances: list[int],
    expected: list[int],
    key: bytes = KEY,
    proof: bytes = PROOF,
    harness: Contract | None = None,
    chain: Chain | None = None,
) -> Any:
    return transact(
        chain or template_env.chain,
        template_env.harness if harness is None else harness,
        "accept",
        proof,
        instances,
        expected,
        key,
    )


def register(
    template_env: TemplateEnv,
    digest: bytes = ZERO32,
    commitment: bytes = ZERO32,
    model_id: int = MODEL,
    chain: Chain | None = None,
) -> int:
    """(mock verifier, digest, commitment) as the next version of `model_id`; its number."""
    version = (template_env.mock.address, digest, commitment, 0, *([ZERO32] * 7), "23.0.5")
    receipt = transact(chain or template_env.chain, template_env.registry, "addVersion", model_id, version)
    return int(template_env.registry.events.VersionAdded().process_receipt(receipt)[0]["args"]["version"])


def squatter_model(template_env: TemplateEnv) -> tuple[Chain, int]:
    """A second account's own model in the same registry, as a squatter would create it."""
    squatter = second_account(template_env.chain)
    receipt = transact(squatter, template_env.registry, "createModel", "template")
    return squatter, int(template_env.registry.events.ModelCreated().process_receipt(receipt)[0]["args"]["modelId"])


# --- acceptance ------------------------------------------------------------------------------------


def test_bound_proof_is_accepted_and_its_outputs_decoded(template_env: TemplateEnv) -> None:
    """The happy path: inputs match, the key is fresh, the verifier says yes; outputs come back signed."""
    chain, harness = template_env.chain, template_env.harness
    instances = [*EXPECTED, felt(-5)]
    assert call(chain, harness, "accept", PROOF, instances, EXPECTED, KEY) == [-5]
    receipt = accept(template_env, instances, EXPECTED)
    event = harness.events.OutputsAccepted().process_receipt(receipt)[0]["args"]
    assert (bytes(event["key"]), list(event["outputs"])) == (KEY, [-5])
    assert call(chain, harness, "acceptedCount") == 1
    assert call(chain, harness, "used", KEY) is True
    assert call(chain, template_env.mock, "calls") == 1


def test_several_outputs_are_the_last_instances_in_order(template_env: TemplateEnv) -> None:
    """Only the trailing `_outputCount()` instances are decoded; unbound inputs in between are free."""
    transact(template_env.chain, template_env.harness, "setShape", 7, 3)
    instances = [10, 20, 999, 12345, felt(7), felt(-(MAX_ABS - 1)), felt(MAX_ABS - 1)]
    outputs = call(template_env.chain, template_env.harness, "accept", PROOF, instances, [10, 20], KEY)
    assert outputs == [7, -(MAX_ABS - 1), MAX_ABS - 1]


def test_partial_binding_leaves_the_other_inputs_to_the_proof(template_env: TemplateEnv) -> None:
    """A consumer may bind fewer inputs than the circuit has (e.g. public context it cannot recompute)."""
    instances = [*EXPECTED, 0]
    assert call(template_env.chain, template_env.harness, "accept", PROOF, instances, EXPECTED[:1], KEY) == [0]


# --- each check by name -----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 8, 10])
def test_wrong_instance_count_is_rejected(template_env: TemplateEnv, count: int) -> None:
    """A proof with another number of instances is for another circuit shape."""
    instances = [*EXPECTED, 0, 0][:count]
    rejected(template_env, lambda: accept(template_env, instances, EXPECTED), "WrongInstanceCount", (count, 9))


def test_binding_nothing_is_rejected(template_env: TemplateEnv) -> None:
    """Rule 3, 'nothing matched': a consumer that binds no input would act on a proof about anything."""
    rejected(template_env, lambda: accept(template_env, [*EXPECTED, 0], []), "NoInputsBound", ())


def test_inputs_overlapping_outputs_is_rejected(template_env: TemplateEnv) -> None:
    """A consumer binding as many inputs as there are instances misreads its circuit: refused, not guessed."""
    rejected(
        template_env, lambda: accept(template_env, [*EXPECTED, 0], [*EXPECTED, 0]), "InputsOverlapOutputs", (9, 1, 9)
    )
    transact(template_env.chain, template_env.harness, "setShape", 4, 2)
    rejected(template_env, lambda: accept(template_env, [1, 2, 3, 4], [1, 2, 3]), "InputsOverlapOutputs", (3, 2, 4))


def test_input_mismatch_is_rejected_at_the_first_difference(template_env: TemplateEnv) -> None:
    """Rule 3: an input the consumer did not expect is refused with its index and both values."""
    instances = [*EXPECTED, 0]
    instances[3] += 1
    rejected(
        template_env,
        lambda: accept(template_env, instances, EXPECTED),
        "InputMismatch",
        (3, EXPECTED[3], EXPECTED[3] + 1),
    )


def test_all_zero_inputs_are_not_a_wildcard(template_env: TemplateEnv) -> None:
    """Zeros where inputs should be are a mismatch like any other."""
    rejected(template_env, lambda: accept(template_env, [0] * 9, EXPECTED), "InputMismatch", (0, EXPECTED[0], 0))


def test_a_used_key_is_rejected_whatever_the_proof(template_env: TemplateEnv) -> None:
    """Rule 4: freshness is keyed on the consumer's key, so other proof bytes do not make a replay new."""
    instances = [*EXPECTED, 1]
    accept(template_env, instances, EXPECTED)
    rejected(template_env, lambda: accept(template_env, instances, EXPECTED, proof=b"\x02" * 99), "AlreadyUsed", (KEY,))
    accept(template_env, instances, EXPECTED, key=OTHER_KEY)
    assert call(template_env.chain, template_env.harness, "acceptedCount") == 2


def test_instance_not_in_field_is_rejected(template_env: TemplateEnv) -> None:
    """Rule 5: x and x + r verify alike; a non-canonical instance is refused even when it was 'expected'."""
    rejected(
        template_env,
        lambda: accept(template_env, [*EXPECTED, FIELD_MODULUS], EXPECTED),
        "InstanceNotInField",
        (8, FIELD_MODULUS),
    )
    aliased = [EXPECTED[0] + FIELD_MODULUS, *EXPECTED[1:]]
    rejected(template_env, lambda: accept(template_env, [*aliased, 0], aliased), "InstanceNotInField", (0, aliased[0]))


def test_verifier_answering_garbage_is_proof_rejected(template_env: TemplateEnv) -> None:
    """A "verifier" that returns nothing (a STOP) is a rejection by name, not an unnamed revert
    while decoding its answer."""
    chain = template_env.chain
    silent = Web3.to_checksum_address("0x" + "5e" * 20)
    assert not chain.w3.provider.make_request("anvil_setCode", [silent, "0x00"]).get("error")  # type: ignore[arg-type]
    harness = _deployed(chain, template_env.artifacts["ConsumerHarness"], silent, NO_REGISTRY, 0)
    rejected(
        template_env,
        lambda: transact(chain, harness, "accept", PROOF, [*EXPECTED, 0], EXPECTED, KEY),
        "ProofRejected",
        (),
        harness=harness,
    )


@pytest.mark.parametrize("reverts", [False, True], ids=["returns-false", "reverts"])
def test_verifier_refusal_is_proof_rejected(template_env: TemplateEnv, reverts: bool) -> None:
    """A false return and a revert of the verifier are the same rejection."""
    transact(template_env.chain, template_env.mock, "setAccepts", False)
    if reverts:
        transact(template_env.chain, template_env.mock, "setReverts", True)
    rejected(template_env, lambda: accept(template_env, [*EXPECTED, 0], EXPECTED), "ProofRejected", ())
    rejected(
        template_env,
        lambda: transact(template_env.chain, template_env.harness, "verify", PROOF, [1, 2]),
        "ProofRejected",
        (),
    )


@pytest.mark.parametrize("value", [MAX_ABS, FIELD_MODULUS // 2, FIELD_MODULUS - MAX_ABS])
def test_output_in_the_middle_of_the_field_is_rejected(template_env: TemplateEnv, value: int) -> None:
    """Rule 5: an output that is neither small positive nor small negative is no honest model output."""
    rejected(template_env, lambda: accept(template_env, [*EXPECTED, value], EXPECTED), "OutputOutOfRange", (value,))


# --- the registry check -------------------------------------------------------------------------------


def test_unregistered_artifact_is_rejected_with_the_consumers_vka_digest(template_env: TemplateEnv) -> None:
    """Rule 2: the registry sees the consumer's verifier, `_vkaDigest()` and `_paramsCommitment()`."""
    digest, commitment = b"\xaa" * 32, b"\xbb" * 32
    transact(template_env.chain, template_env.guarded, "setArtifact", digest, commitment)
    error = rejected(
        template_env,
        lambda: accept(template_env, [*EXPECTED, 0], EXPECTED, harness=template_env.guarded),
        "UnregisteredArtifact",
        harness=template_env.guarded,
    )
    model_id, address, got_digest, got_commitment = error.error_args
    assert (model_id, str(address).lower(), got_digest, got_commitment) == (
        MODEL,
        template_env.mock.address.lower(),
        digest,
        commitment,
    )
    register(template_env, digest, commitment)
    assert call(template_env.chain, template_env.guarded, "accept", PROOF, [*EXPECTED, 0], EXPECTED, KEY) == [0]


def test_revoked_version_is_rejected(template_env: TemplateEnv) -> None:
    """Revocation stops a consumer at once: the registry's error bubbles up by name."""
    version = register(template_env)
    accept(template_env, [*EXPECTED, 0], EXPECTED, harness=template_env.guarded)
    transact(template_env.chain, template_env.registry, "revokeVersion", MODEL, version)
    rejected(
        template_env,
        lambda: accept(template_env, [*EXPECTED, 0], EXPECTED, key=OTHER_KEY, harness=template_env.guarded),
        "VersionIsRevoked",
        (MODEL, version),
        harness=template_env.guarded,
    )


def test_caller_not_on_the_allowlist_is_rejected(template_env: TemplateEnv) -> None:
    """The registry checks the account calling the consumer (`msg.sender`)."""
    register(template_env)
    transact(template_env.chain, template_env.registry, "setAccessRestricted", MODEL, True)
    stranger = second_account(template_env.chain)
    error = rejected(
        template_env,
        lambda: accept(template_env, [*EXPECTED, 0], EXPECTED, harness=template_env.guarded, chain=stranger),
        "CallerNotAllowed",
        harness=template_env.guarded,
    )
    assert error.error_args[0] == MODEL and str(error.error_args[1]).lower() == stranger.address.lower()
    transact(template_env.chain, template_env.registry, "setAllowed", MODEL, [stranger.address], True)
    accept(template_env, [*EXPECTED, 0], EXPECTED, harness=template_env.guarded, chain=stranger)


# --- the order of the checks -------------------------------------------------------------------------


def test_checks_run_in_the_documented_order(template_env: TemplateEnv) -> None:
    """One call that breaks every check, repaired one check at a time: each error appears in turn."""
    chain, guarded = template_env.chain, template_env.guarded
    digest = b"\xcc" * 32
    transact(chain, guarded, "setArtifact", digest, b"\x00" * 32)
    revoked = register(template_env, digest)
    accept(template_env, [*EXPECTED, 0], EXPECTED, harness=guarded)  # KEY is used from now on
    transact(chain, template_env.registry, "revokeVersion", MODEL, revoked)
    transact(chain, template_env.mock, "setReverts", True)

    def attempt(instances: list[int], expected: list[int], key: bytes = KEY) -> Callable[[], Any]:
        return lambda: accept(template_env, instances, expected, key=key, harness=guarded)

    broken = [0] * 8 + [MAX_ABS]  # wrong inputs, output out of range
    rejected(template_env, attempt(broken[:-1], []), "WrongInstanceCount", (8, 9), harness=guarded)
    rejected(template_env, attempt(broken, []), "VersionIsRevoked", (MODEL, revoked), harness=guarded)
    transact(chain, guarded, "setArtifact", b"\x00" * 32, b"\x00" * 32)
    rejected(template_env, attempt(broken, []), "UnregisteredArtifact", harness=guarded)
    register(template_env)  # (mock, 0, 0) becomes a usable version
    rejected(template_env, attempt(broken, []), "NoInputsBound", (), harness=guarded)
    rejected(template_env, attempt(broken, EXPECTED), "InputMismatch", (0, EXPECTED[0], 0), harness=guarded)
    bound = [*EXPECTED, MAX_ABS + FIELD_MODULUS]  # inputs right; the output not even in the field
    rejected(template_env, attempt(bound, EXPECTED), "AlreadyUsed", (KEY,), harness=guarded)
    rejected(template_env, attempt(bound, EXPECTED, OTHER_KEY), "InstanceNotInField", (8, bound[8]), harness=guarded)
    bound[8] = MAX_ABS
    rejected(template_env, attempt(bound, EXPECTED, OTHER_KEY), "ProofRejected", (), harness=guarded)
    transact(chain, template_env.mock, "setReverts", False)
    rejected(template_env, attempt(bound, EXPECTED, OTHER_KEY), "OutputOutOfRange", (MAX_ABS,), harness=guarded)
    bound[8] = felt(-1)
    accept(template_env, bound, EXPECTED, key=OTHER_KEY, harness=guarded)
    assert call(chain, guarded, "used", OTHER_KEY) is True


def test_freshness_is_recorded_before_the_verifier_is_called(template_env: TemplateEnv) -> None:
    """Checks-effects-interactions: when the verifier runs, the key is already marked (a reverting
    verifier undoes it with the whole call)."""
    accept(template_env, [*EXPECTED, 0], EXPECTED)
    transact(template_env.chain, template_env.mock, "setReverts", True)
    # a used key stops the call before the verifier: AlreadyUsed, not ProofRejected
    rejected(template_env, lambda: accept(template_env, [*EXPECTED, 0], EXPECTED), "AlreadyUsed")
    rejected(template_env, lambda: accept(template_env, [*EXPECTED, 0], EXPECTED, key=OTHER_KEY), "ProofRejected")
    assert call(template_env.chain, template_env.harness, "used", OTHER_KEY) is False


# --- `_verify` alone, the codec and the constructor ---------------------------------------------------


def test_verify_alone_checks_field_and_verifier_only(template_env: TemplateEnv) -> None:
    """`_verify` is the building block: field range, then the verifier; no shape, binding or registry."""
    chain = template_env.chain
    for harness in (
        template_env.harness,
        template_env.guarded,
    ):  # `guarded`'s registry knows nothing: not consulted here
        rejected(
            template_env,
            lambda: transact(chain, harness, "verify", PROOF, [1, FIELD_MODULUS]),
            "InstanceNotInField",
            (1, FIELD_MODULUS),
            harness=harness,
        )
        receipt = transact(chain, harness, "verify", PROOF, [1, 2, 3])
        assert harness.events.ProofAccepted().process_receipt(receipt)[0]["args"]["count"] == 1
        assert call(chain, harness, "verifiedCount") == 1


def test_signed_codec_round_trips_and_refuses_out_of_range(template_env: TemplateEnv) -> None:
    """Encoding and decoding are inverse on (-2**128, 2**128); encoding refuses anything else."""
    chain, harness = template_env.chain, template_env.harness
    assert call(chain, harness, "constants") == [FIELD_MODULUS, MAX_ABS]
    for value in (0, 1, -1, 255, -(MAX_ABS - 1), MAX_ABS - 1):
        assert call(chain, harness, "encodeSigned", value) == felt(value)
        assert call(chain, harness, "decodeSigned", felt(value)) == value
    for value in (MAX_ABS, -MAX_ABS, 2**200):
        rejected(template_env, lambda: call(chain, harness, "encodeSigned", value), "ValueOutOfRange", (value,))
    rejected(
        template_env, lambda: call(chain, harness, "decodeSigned", FIELD_MODULUS), "OutputOutOfRange", (FIELD_MODULUS,)
    )


def test_verifier_and_registry_without_code_are_refused_at_deployment(template_env: TemplateEnv) -> None:
    """Rule 2: a consumer pinned to an address with no code would call nothing and trust it."""
    artifact, eoa = template_env.artifacts["ConsumerHarness"], template_env.chain.address
    for address in (NO_REGISTRY, eoa):
        error = rejected(
            template_env, lambda: deploy(template_env.chain, artifact, address, NO_REGISTRY, 0), "InvalidVerifier"
        )
        assert str(error.error_args[0]).lower() == address.lower()
    error = rejected(
        template_env, lambda: deploy(template_env.chain, artifact, template_env.mock.address, eoa, 1), "InvalidRegistry"
    )
    assert str(error.error_args[0]).lower() == eoa.lower()


def test_model_id_must_name_a_model_of_the_registry(template_env: TemplateEnv) -> None:
    """Rule 2: the pinned model exists (ids 1 .. modelCount); without a registry there is no model."""
    artifact, mock = template_env.artifacts["ConsumerHarness"], template_env.mock.address
    for registry, model_id in (
        (template_env.registry.address, 0),
        (template_env.registry.address, 2),
        (NO_REGISTRY, 1),
    ):
        error = rejected(
            template_env, lambda: deploy(template_env.chain, artifact, mock, registry, model_id), "InvalidModel"
        )
        assert error.error_args == (model_id,)
    pinned = _deployed(template_env.chain, artifact, mock, template_env.registry.address, MODEL)
    assert call(template_env.chain, pinned, "modelId") == MODEL
    # so the registry's `UnknownModel` (ids are never removed) cannot reach a deployed consumer
    with pytest.raises(TransactionReverted) as info:
        call(template_env.chain, template_env.registry, "checkUsable", 2, mock, ZERO32, ZERO32, mock)
    assert (info.value.error_name, info.value.error_args) == ("UnknownModel", (2,))


def test_another_models_versions_do_not_count(template_env: TemplateEnv) -> None:
    """Squatting: a stranger registers this consumer's verifier under a model of its own first,
    then restricts that model to itself and revokes the version. None of it reaches the pinned
    model: its owner registers the same verifier afterwards, and its consumer accepts."""
    squatter, squatted = squatter_model(template_env)
    register(template_env, model_id=squatted, chain=squatter)
    error = rejected(
        template_env,
        lambda: accept(template_env, [*EXPECTED, 0], EXPECTED, harness=template_env.guarded),
        "UnregisteredArtifact",
        harness=template_env.guarded,
    )
    assert error.error_args[0] == MODEL and error.error_args[2:] == (ZERO32, ZERO32)
    assert register(template_env) == 1  # no DuplicateArtifact: keys are per model
    transact(squatter, template_env.registry, "setAccessRestricted", squatted, True)
    transact(squatter, template_env.registry, "revokeVersion", squatted, 1)
    assert accept(template_env, [*EXPECTED, 0], EXPECTED, harness=template_env.guarded)["status"] == 1


def test_hashed_params_consumer_accepts_only_its_models_weights(template_env: TemplateEnv) -> None:
    """Weights substitution: two weight sets share one verifier (hashed params: the weights
    are a public commitment, not in the vk). The model's owner registers one; a stranger
    registers the other under its own model. A consumer reading the commitment from the proof
    accepts only its model's weights."""
    chain, guarded = template_env.chain, template_env.guarded
    ours, theirs = felt(0xA11CE), felt(0xB0B)
    transact(chain, guarded, "setShape", 10, 1)
    transact(chain, guarded, "setParamsInstance", 0, 1)  # ezkl's layout: the weights' hash, inputs, outputs
    register(template_env, commitment=ours.to_bytes(32, "big"))
    squatter, other_model = squatter_model(template_env)
    register(template_env, commitment=theirs.to_bytes(32, "big"), model_id=other_model, chain=squatter)
    error = rejected(
        template_env,
        lambda: accept(template_env, [theirs, *EXPECTED, 7], EXPECTED, harness=guarded),
        "UnregisteredArtifact",
        harness=guarded,
    )
    assert error.error_args[0] == MODEL and error.error_args[2:] == (ZERO32, theirs.to_bytes(32, "big"))
    assert call(chain, guarded, "accept", PROOF, [ours, *EXPECTED, 7], EXPECTED, KEY) == [7]
    rejected(
        template_env,
        lambda: accept(template_env, [*EXPECTED, ours, 7], EXPECTED, harness=guarded),
        "UnregisteredArtifact",
        harness=guarded,
    )  # the commitment read where ezkl puts it, not where a caller would like it


# --- MockVerifier --------------------------------------------------------------------------------------


def test_mock_verifier_answers_as_configured(template_env: TemplateEnv) -> None:
    """True, false or a revert, whatever the proof; `calls` counts the calls that returned."""
    chain, mock = template_env.chain, template_env.mock
    assert (call(chain, mock, "accepts"), call(chain, mock, "reverts")) == (True, False)
    assert call(chain, mock, "verifyProof", b"", []) is True
    receipt = transact(chain, mock, "setAccepts", False)
    assert dict(mock.events.BehaviourChanged().process_receipt(receipt)[0]["args"]) == {
        "accepts": False,
        "reverts": False,
    }
    assert call(chain, mock, "verifyProof", PROOF, [FIELD_MODULUS]) is False
    transact(chain, mock, "verifyProof", PROOF, [1])
    assert call(chain, mock, "calls") == 1
    transact(chain, mock, "setReverts", True)
    with pytest.raises(TransactionReverted) as info:
        call(chain, mock, "verifyProof", PROOF, [1])
    assert info.value.error_name == "MockVerifierReverted"
    rejecting = _deployed(chain, template_env.artifacts["MockVerifier"], False)
    assert call(chain, rejecting, "verifyProof", PROOF, [1]) is False


def test_test_contracts_fit_and_say_they_are_for_tests(template_env: TemplateEnv) -> None:
    """The harness and the mock deploy (EIP-170) and their NatSpec warns against real use."""
    root = Path(__file__).resolve().parents[1] / "contracts" / "test"
    assert "ACCEPTS ANY" in (root / "MockVerifier.sol").read_text().upper()
    assert "TEST ONLY" in (root / "ConsumerHarness.sol").read_text().upper()
    for name in ("ConsumerHarness", "MockVerifier"):
        size = len(bytes.fromhex(template_env.artifacts[name]["deployedBytecode"].removeprefix("0x")))
        assert 0 < size < EIP170_LIMIT


# --- rule 8: every custom error has a test -----------------------------------------------------------

ERROR_TESTS = {
    "InvalidVerifier": "test_verifier_and_registry_without_code_are_refused_at_deployment",
    "InvalidRegistry": "test_verifier_and_registry_without_code_are_refused_at_deployment",
    "InvalidModel": "test_model_id_must_name_a_model_of_the_registry",
    "UnknownModel": "test_model_id_must_name_a_model_of_the_registry",
    "WrongInstanceCount": "test_wrong_instance_count_is_rejected",
    "NoInputsBound": "test_binding_nothing_is_rejected",
    "InputsOverlapOutputs": "test_inputs_overlapping_outputs_is_rejected",
    "InputMismatch": "test_input_mismatch_is_rejected_at_the_first_difference",
    "AlreadyUsed": "test_a_used_key_is_rejected_whatever_the_proof",
    "InstanceNotInField": "test_instance_not_in_field_is_rejected",
    "ProofRejected": "test_verifier_refusal_is_proof_rejected",
    "OutputOutOfRange": "test_output_in_the_middle_of_the_field_is_rejected",
    "ValueOutOfRange": "test_signed_codec_round_trips_and_refuses_out_of_range",
    "UnregisteredArtifact": "test_unregistered_artifact_is_rejected_with_the_consumers_vka_digest",
    "VersionIsRevoked": "test_revoked_version_is_rejected",
    "CallerNotAllowed": "test_caller_not_on_the_allowlist_is_rejected",
    "MockVerifierReverted": "test_mock_verifier_answers_as_configured",
}


def test_every_custom_error_has_a_test(template_env: TemplateEnv) -> None:
    """Rule 8: a new error in the template, the harness or the mock fails here until it has a test."""
    declared = {
        entry["name"]
        for name in ("ConsumerHarness", "MockVerifier")
        for entry in template_env.artifacts[name]["abi"]
        if entry["type"] == "error"
    }
    assert declared == set(ERROR_TESTS)
    source = Path(__file__).read_text()
    for test in ERROR_TESTS.values():
        assert f"def {test}(" in source, test
