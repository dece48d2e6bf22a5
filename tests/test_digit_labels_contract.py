"""DigitLabels, the example consumer for the `digits` model, against MockVerifier on a real anvil.

The mock verifier accepts whatever it is told to, so these tests exercise everything the
example itself decides: how pixels become input instances (bit for bit as `models.digits`
encodes them), the argmax of signed logits, one label per image keyed on the image and
never on proof bytes, the pause switch and its owner (OpenZeppelin's Ownable2Step and
Pausable). Proving the real circuit is the CLI's and the demo's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from contract_env import second_account
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3.contract import Contract

from models.digits import DigitsModel
from prover.consumers.base import NO_REGISTRY
from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, transact
from prover.evm.solc import EIP170_LIMIT, compile_project_contracts
from prover.proving.field import FIELD_MODULUS

pytestmark = pytest.mark.chain

ZERO_ADDRESS = NO_REGISTRY
SCALE = 7  # the digits circuit's input scale
PROOF = b"\x5a" * 128
RNG_SEED = 20


def felt(value: int) -> int:
    return value % FIELD_MODULUS


def image(seed: int) -> list[int]:
    """64 pixels 0..16 (seeded), row-major."""
    return [int(v) for v in np.random.default_rng(seed).integers(0, 17, size=64)]


def python_inputs(pixels: list[int], scale: int) -> list[int]:
    """The input felts as the Python side encodes the image (`models.digits`), never re-derived here."""
    grid = DigitsModel().encode(np.asarray(pixels).reshape(8, 8), scale).ravel()
    fixed = [round(float(x) * 2**scale) for x in grid]
    assert all(float(f) / 2**scale == float(x) for f, x in zip(fixed, grid, strict=True))
    return fixed


def logits_with_argmax(digit: int) -> list[int]:
    """Ten signed logits whose argmax is `digit` (and which include negatives)."""
    logits = [-300 + 17 * k for k in range(10)]
    logits[digit] = 5000
    return logits


@dataclass(frozen=True)
class LabelsEnv:
    chain: Chain
    artifacts: dict[str, dict[str, Any]]
    sizes: dict[str, int]
    mock: Contract
    book: Contract


def _deployed(chain: Chain, artifact: dict[str, Any], *args: Any) -> Contract:
    return contract_at(chain, deploy(chain, artifact, *args).address, artifact["abi"])


@pytest.fixture(scope="module")
def labels_env(module_chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> LabelsEnv:
    """On the session's anvil: a mock verifier that accepts, and a label book pinned to it at the circuit's scale."""
    chain, out = module_chain, tmp_path_factory.mktemp("digit-labels")
    compiled = compile_project_contracts(out / "out", include_tests=True)
    artifacts = {name: compiled[name].artifact() for name in ("DigitLabels", "MockVerifier")}
    sizes = {name: contract.runtime_size for name, contract in compiled.items()}
    mock = _deployed(chain, artifacts["MockVerifier"], True)
    book = _deployed(chain, artifacts["DigitLabels"], mock.address, NO_REGISTRY, 0, SCALE, chain.address)
    return LabelsEnv(chain, artifacts, sizes, mock, book)


def stranger(env: LabelsEnv) -> Chain:
    return second_account(env.chain)


def image_hash(pixels: list[int]) -> bytes:
    return keccak(abi_encode(["uint8[64]"], [pixels]))


def instances_for(labels_env: LabelsEnv, pixels: list[int], logits: list[int]) -> list[int]:
    return [int(v) for v in call(labels_env.chain, labels_env.book, "expectedInputs", pixels)] + [
        felt(v) for v in logits
    ]


def label(
    labels_env: LabelsEnv, pixels: list[int], instances: list[int], proof: bytes = PROOF, chain: Chain | None = None
) -> Any:
    return transact(chain or labels_env.chain, labels_env.book, "label", pixels, proof, instances)


def rejected(
    labels_env: LabelsEnv,
    action: Callable[[], Any],
    name: str,
    args: tuple[Any, ...] | None = None,
    watch: list[int] | None = None,
) -> TransactionReverted:
    """`action` must revert with custom error `name` (and `args`), leaving the book as it was."""
    watched = [image_hash(watch)] if watch is not None else []

    def book_state() -> tuple[Any, ...]:
        return (
            call(labels_env.chain, labels_env.book, "paused"),
            call(labels_env.chain, labels_env.book, "owner"),
            call(labels_env.chain, labels_env.book, "pendingOwner"),
            call(labels_env.chain, labels_env.mock, "calls"),
            *(tuple(call(labels_env.chain, labels_env.book, "labelOf", h)) for h in watched),
        )

    before = book_state()
    with pytest.raises(TransactionReverted) as info:
        action()
    assert info.value.error_name == name, (info.value.error_name, info.value.error_args)
    if args is not None:
        assert info.value.error_args == args
    assert book_state() == before
    return info.value


# --- labelling --------------------------------------------------------------------------------------


def test_label_is_recorded_and_emitted(labels_env: LabelsEnv) -> None:
    """A proof over the caller's image records the argmax of its logits, once, with an event."""
    chain, book, pixels = labels_env.chain, labels_env.book, image(1)
    key = image_hash(pixels)
    assert bytes(call(chain, book, "imageHash", pixels)) == key
    assert tuple(call(chain, book, "labelOf", key)) == (False, 0)
    instances = instances_for(labels_env, pixels, logits_with_argmax(3))
    assert len(instances) == 74
    assert call(chain, book, "label", pixels, PROOF, instances) == 3
    receipt = label(labels_env, pixels, instances)
    events = book.events.Labelled().process_receipt(receipt)
    assert [(bytes(e["args"]["imageHash"]), e["args"]["digit"], e["args"]["labeller"]) for e in events] == [
        (key, 3, chain.address)
    ]
    assert tuple(call(chain, book, "labelOf", key)) == (True, 3)
    assert call(chain, labels_env.mock, "calls") == 1


def test_anyone_may_label_an_image(labels_env: LabelsEnv) -> None:
    """The proof, not the caller, is trusted: a stranger's label is recorded under the stranger's name."""
    pixels, other = image(2), stranger(labels_env)
    receipt = label(labels_env, pixels, instances_for(labels_env, pixels, logits_with_argmax(9)), chain=other)
    assert labels_env.book.events.Labelled().process_receipt(receipt)[0]["args"]["labeller"] == other.address
    assert tuple(call(labels_env.chain, labels_env.book, "labelOf", image_hash(pixels))) == (True, 9)


def test_second_label_for_the_same_image_is_refused_even_with_another_proof(labels_env: LabelsEnv) -> None:
    """Rule 4: freshness is keyed on the image; new proof bytes (a re-randomised proof) change nothing."""
    pixels = image(3)
    label(labels_env, pixels, instances_for(labels_env, pixels, logits_with_argmax(4)))
    key = image_hash(pixels)
    for proof, digit, chain in ((b"\x01" * 32, 7, labels_env.chain), (PROOF, 4, stranger(labels_env))):
        rejected(
            labels_env,
            lambda: label(
                labels_env, pixels, instances_for(labels_env, pixels, logits_with_argmax(digit)), proof, chain
            ),
            "AlreadyLabelled",
            (key, 4),
            watch=pixels,
        )
    other = image(4)  # another image is still free
    label(labels_env, other, instances_for(labels_env, other, logits_with_argmax(0)))
    assert tuple(call(labels_env.chain, labels_env.book, "labelOf", image_hash(other))) == (True, 0)


def test_image_hash_is_keccak_of_the_abi_encoded_pixels(labels_env: LabelsEnv) -> None:
    """The key users compute off chain: keccak256(abi.encode(uint8[64])) (= abi.encodePacked for it)."""
    for pixels in (image(5), [0] * 64, [16] * 64):
        packed = b"".join(v.to_bytes(32, "big") for v in pixels)
        assert (
            bytes(call(labels_env.chain, labels_env.book, "imageHash", pixels)) == image_hash(pixels) == keccak(packed)
        )


# --- inputs: the contract's encoding is models.digits' encoding ------------------------------------


@pytest.mark.parametrize("scale", [4, 5, 6, 7, 8, 0, 1, 3])
def test_expected_inputs_match_the_models_encoding(labels_env: LabelsEnv, scale: int) -> None:
    """Every pixel value at each scale, bit for bit as `models.digits` quantises it (round half up)."""
    book = _deployed(
        labels_env.chain,
        labels_env.artifacts["DigitLabels"],
        labels_env.mock.address,
        NO_REGISTRY,
        0,
        scale,
        labels_env.chain.address,
    )
    assert call(labels_env.chain, book, "inputScale") == scale
    every_value = [v % 17 for v in range(64)]
    for pixels in (every_value, image(6), [16] * 64):
        assert [int(v) for v in call(labels_env.chain, book, "expectedInputs", pixels)] == python_inputs(pixels, scale)


def test_pixel_above_16_is_refused(labels_env: LabelsEnv) -> None:
    """The circuit was built for 0..16; a larger value is not an image of this model."""
    pixels = image(7)
    pixels[5] = 17
    rejected(
        labels_env, lambda: call(labels_env.chain, labels_env.book, "expectedInputs", pixels), "InvalidPixel", (5, 17)
    )
    instances = [0] * 64 + [felt(v) for v in logits_with_argmax(1)]
    rejected(labels_env, lambda: label(labels_env, pixels, instances), "InvalidPixel", (5, 17), watch=pixels)
    pixels[5], pixels[63] = 16, 255
    rejected(labels_env, lambda: label(labels_env, pixels, instances), "InvalidPixel", (63, 255), watch=pixels)


def test_proof_over_another_image_is_refused(labels_env: LabelsEnv) -> None:
    """Rule 3: the inputs must be the caller's pixels, encoded by the contract."""
    pixels, other = image(8), image(9)
    instances = instances_for(labels_env, other, logits_with_argmax(2))
    first = next(i for i in range(64) if pixels[i] != other[i])
    expected = python_inputs(pixels, SCALE)[first]
    rejected(
        labels_env,
        lambda: label(labels_env, pixels, instances),
        "InputMismatch",
        (first, expected, instances[first]),
        watch=pixels,
    )


def test_wrong_shape_bad_proof_and_bad_logits_are_refused(labels_env: LabelsEnv) -> None:
    """The template's checks hold for the example: 74 instances, a valid proof, decodable logits."""
    pixels = image(10)
    instances = instances_for(labels_env, pixels, logits_with_argmax(5))
    rejected(
        labels_env, lambda: label(labels_env, pixels, instances[:-1]), "WrongInstanceCount", (73, 74), watch=pixels
    )
    rejected(
        labels_env, lambda: label(labels_env, pixels, [*instances, 0]), "WrongInstanceCount", (75, 74), watch=pixels
    )
    middle = [*instances[:-1], FIELD_MODULUS // 2]
    rejected(
        labels_env, lambda: label(labels_env, pixels, middle), "OutputOutOfRange", (FIELD_MODULUS // 2,), watch=pixels
    )
    aliased = [*instances[:-1], instances[-1] + FIELD_MODULUS]
    rejected(
        labels_env, lambda: label(labels_env, pixels, aliased), "InstanceNotInField", (73, aliased[-1]), watch=pixels
    )
    transact(labels_env.chain, labels_env.mock, "setAccepts", False)
    rejected(labels_env, lambda: label(labels_env, pixels, instances), "ProofRejected", (), watch=pixels)


# --- the decision: argmax of signed logits ----------------------------------------------------------


def test_argmax_of_signed_logits_matches_numpy(labels_env: LabelsEnv) -> None:
    """Negative logits, ties (lowest index wins, like numpy) and random cases, decided on chain."""
    pixels = image(11)
    cases = [
        [-5, -3, -9, -3, -100, -4, -3, -8, -7, -6],  # all negative, tie at the top: 1
        [7] * 10,  # all equal: 0
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 1],  # the last
        [-(2**127), 2**127, 2**127, *[0] * 7],  # extremes, tie: 1
    ]
    rng = np.random.default_rng(RNG_SEED)
    cases += [[int(v) for v in rng.integers(-4, 5, size=10)] for _ in range(12)]
    for logits in cases:
        instances = instances_for(labels_env, pixels, logits)
        assert call(labels_env.chain, labels_env.book, "label", pixels, PROOF, instances) == int(
            np.argmax(np.asarray(logits))
        )


# --- owner and pause (OpenZeppelin) -------------------------------------------------------------------


def test_paused_book_refuses_labels_until_unpaused(labels_env: LabelsEnv) -> None:
    """Rule 6: the owner can stop labelling; a valid proof then waits."""
    chain, book, pixels = labels_env.chain, labels_env.book, image(12)
    instances = instances_for(labels_env, pixels, logits_with_argmax(6))
    receipt = transact(chain, book, "pause")
    assert [e["args"]["account"] for e in book.events.Paused().process_receipt(receipt)] == [chain.address]
    rejected(labels_env, lambda: label(labels_env, pixels, instances), "EnforcedPause", (), watch=pixels)
    rejected(labels_env, lambda: transact(chain, book, "pause"), "EnforcedPause", ())
    receipt = transact(chain, book, "unpause")
    assert [e["args"]["account"] for e in book.events.Unpaused().process_receipt(receipt)] == [chain.address]
    rejected(labels_env, lambda: transact(chain, book, "unpause"), "ExpectedPause", ())
    label(labels_env, pixels, instances)
    assert tuple(call(chain, book, "labelOf", image_hash(pixels))) == (True, 6)


def test_only_the_owner_pauses(labels_env: LabelsEnv) -> None:
    """Anyone else gets OpenZeppelin's OwnableUnauthorizedAccount, by name."""
    other = stranger(labels_env)
    for fn in ("pause", "unpause", "transferOwnership"):
        args = (other.address,) if fn == "transferOwnership" else ()
        error = rejected(labels_env, lambda: transact(other, labels_env.book, fn, *args), "OwnableUnauthorizedAccount")
        assert str(error.error_args[0]).lower() == other.address.lower()
    # and not even the owner may leave the book ownerless (a paused book would stay paused)
    rejected(labels_env, lambda: transact(labels_env.chain, labels_env.book, "renounceOwnership"), "RenounceDisabled")


def test_ownership_moves_in_two_steps(labels_env: LabelsEnv) -> None:
    """Ownable2Step: the new owner must accept; until then the old owner keeps the switch."""
    chain, book, other = labels_env.chain, labels_env.book, stranger(labels_env)
    receipt = transact(chain, book, "transferOwnership", other.address)
    started = book.events.OwnershipTransferStarted().process_receipt(receipt)[0]["args"]
    assert (started["previousOwner"], started["newOwner"]) == (chain.address, other.address)
    assert (call(chain, book, "owner"), call(chain, book, "pendingOwner")) == (chain.address, other.address)
    rejected(labels_env, lambda: transact(other, book, "pause"), "OwnableUnauthorizedAccount")
    receipt = transact(other, book, "acceptOwnership")
    moved = book.events.OwnershipTransferred().process_receipt(receipt)[0]["args"]
    assert (moved["previousOwner"], moved["newOwner"]) == (chain.address, other.address)
    transact(other, book, "pause")
    rejected(labels_env, lambda: transact(chain, book, "unpause"), "OwnableUnauthorizedAccount")


def test_zero_owner_and_bad_config_are_refused_at_deployment(labels_env: LabelsEnv) -> None:
    """A book nobody owns could never be paused; a scale beyond 64 bits is no circuit of ours."""
    artifact, mock = labels_env.artifacts["DigitLabels"], labels_env.mock.address
    error = rejected(
        labels_env,
        lambda: deploy(labels_env.chain, artifact, mock, NO_REGISTRY, 0, SCALE, ZERO_ADDRESS),
        "OwnableInvalidOwner",
    )
    assert str(error.error_args[0]).lower() == ZERO_ADDRESS
    rejected(
        labels_env,
        lambda: deploy(labels_env.chain, artifact, mock, NO_REGISTRY, 0, 65, labels_env.chain.address),
        "InvalidConfig",
        (),
    )
    error = rejected(
        labels_env,
        lambda: deploy(
            labels_env.chain, artifact, labels_env.chain.address, NO_REGISTRY, 0, SCALE, labels_env.chain.address
        ),
        "InvalidVerifier",
    )
    assert str(error.error_args[0]).lower() == labels_env.chain.address.lower()
    book = _deployed(
        labels_env.chain, artifact, mock, NO_REGISTRY, 0, 64, labels_env.chain.address
    )  # the largest scale
    assert int(call(labels_env.chain, book, "expectedInputs", [16] * 64)[0]) == 2**64


def test_project_contracts_fit_eip170(labels_env: LabelsEnv) -> None:
    """The three deployable project contracts stay under the 24,576-byte runtime limit."""
    for name in ("AdaptiveFeePool", "ModelRegistry", "DigitLabels"):
        assert 0 < labels_env.sizes[name] < EIP170_LIMIT, (name, labels_env.sizes[name])


# --- rule 8: every custom error of the example has a test -------------------------------------------

TEMPLATE = "test_consumer_template.py::"
ERROR_TESTS = {
    "InvalidPixel": "test_pixel_above_16_is_refused",
    "AlreadyLabelled": "test_second_label_for_the_same_image_is_refused_even_with_another_proof",
    "InvalidConfig": "test_zero_owner_and_bad_config_are_refused_at_deployment",
    "OwnableInvalidOwner": "test_zero_owner_and_bad_config_are_refused_at_deployment",
    "OwnableUnauthorizedAccount": "test_only_the_owner_pauses",
    "RenounceDisabled": "test_only_the_owner_pauses",
    "EnforcedPause": "test_paused_book_refuses_labels_until_unpaused",
    "ExpectedPause": "test_paused_book_refuses_labels_until_unpaused",
    "InvalidVerifier": "test_zero_owner_and_bad_config_are_refused_at_deployment",
    "WrongInstanceCount": "test_wrong_shape_bad_proof_and_bad_logits_are_refused",
    "InputMismatch": "test_proof_over_another_image_is_refused",
    "InstanceNotInField": "test_wrong_shape_bad_proof_and_bad_logits_are_refused",
    "ProofRejected": "test_wrong_shape_bad_proof_and_bad_logits_are_refused",
    "OutputOutOfRange": "test_wrong_shape_bad_proof_and_bad_logits_are_refused",
    # the template's own checks, which the example cannot reach (it always binds 64 inputs,
    # encodes nothing signed, and has no registry here): tested through the harness
    "InvalidRegistry": TEMPLATE + "test_verifier_and_registry_without_code_are_refused_at_deployment",
    "InvalidModel": TEMPLATE + "test_model_id_must_name_a_model_of_the_registry",
    "UnknownModel": TEMPLATE + "test_model_id_must_name_a_model_of_the_registry",
    "NoInputsBound": TEMPLATE + "test_binding_nothing_is_rejected",
    "InputsOverlapOutputs": TEMPLATE + "test_inputs_overlapping_outputs_is_rejected",
    "ValueOutOfRange": TEMPLATE + "test_signed_codec_round_trips_and_refuses_out_of_range",
    "UnregisteredArtifact": TEMPLATE + "test_unregistered_artifact_is_rejected_with_the_consumers_vka_digest",
    "VersionIsRevoked": TEMPLATE + "test_revoked_version_is_rejected",
    "CallerNotAllowed": TEMPLATE + "test_caller_not_on_the_allowlist_is_rejected",
}


def test_every_custom_error_has_a_test(labels_env: LabelsEnv) -> None:
    """Rule 8: a new error in DigitLabels (or what it inherits) fails here until it has a test."""
    declared = {e["name"] for e in labels_env.artifacts["DigitLabels"]["abi"] if e["type"] == "error"}
    assert declared == set(ERROR_TESTS)
    here = Path(__file__)
    for test in ERROR_TESTS.values():
        module, _, name = test.rpartition("::")
        source = here.with_name(module or here.name).read_text()
        assert f"def {name}(" in source, test
