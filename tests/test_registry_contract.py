"""ModelRegistry on a real anvil: who may change a model, lineage, revocation, access, events.

No proofs are needed: the registry never calls a verifier, it only requires code at the
verifier's address, so stand-in verifiers are single STOP opcodes put in place with
`anvil_setCode`. One registry per module on the session's anvil; every test starts from the
freshly deployed registry (anvil snapshot/revert) and every rejection is checked by its custom
error's name and arguments, as DESIGN.md's contract rule 7 asks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, estimate_gas, transact
from prover.evm.solc import EIP170_LIMIT, CompiledContract, compile_files
from prover.evm.toolchain import contract_sources, project_root

pytestmark = pytest.mark.chain

# anvil's second and third dev accounts (public keys of a local dev chain, funded only there)
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
THIRD_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = bytes(32)
EZKL_VERSION = "23.0.5"
PROVENANCE_FIELDS = ("onnxHash", "datasetHash", "settingsHash", "circuitHash", "vkHash", "srsHash", "lineageHash")


# --- helpers: deploy, act as someone, read records and events ----------------------------------


@dataclass(frozen=True)
class RegistryContractEnv:
    """The chain, the registry, and three signers: the deployer (owner of what it creates)
    and two strangers, all on the same node."""

    chain: Chain
    registry: Contract
    compiled: CompiledContract
    other: Chain
    third: Chain


def compile_registry() -> CompiledContract:
    """Only the registry's two files: a second faster than compiling all of contracts/src."""
    folder = contract_sources()
    files = [folder / "ModelRegistry.sol", folder / "IModelRegistry.sol"]
    return compile_files(files, project_root())["ModelRegistry"]


def signer(chain: Chain, key: str) -> Chain:
    """The same node, another dev account signing."""
    return chain.signed_by(key)


def stand_in_verifier(chain: Chain, label: str) -> str:
    """An address with code (one STOP byte), derived from `label` so tests can ask for many."""
    address = Web3.to_checksum_address(keccak(text=f"verifier:{label}")[-20:])
    response = chain.w3.provider.make_request("anvil_setCode", [address, "0x00"])  # type: ignore[arg-type]
    assert not response.get("error"), response
    return address


def digest(label: str) -> bytes:
    """A distinct, recognisable bytes32 per label (stands in for a file's hash)."""
    return keccak(text=label)


def version_input(
    verifier: str,
    tag: str = "v1",
    *,
    parent: int = 0,
    vka_digest: bytes = ZERO_HASH,
    params_commitment: bytes = ZERO_HASH,
    ezkl_version: str = EZKL_VERSION,
) -> dict[str, Any]:
    """A `VersionInput` with every provenance hash set to a distinct digest of `tag`."""
    return {
        "verifier": verifier,
        "vkaDigest": vka_digest,
        "paramsCommitment": params_commitment,
        "parent": parent,
        **{field: digest(f"{tag}:{field}") for field in PROVENANCE_FIELDS},
        "ezklVersion": ezkl_version,
    }


def create_model(env: RegistryContractEnv, name: str = "fee", by: Chain | None = None) -> int:
    """Creates a model and returns its id, read from the ModelCreated event."""
    receipt = transact(by or env.chain, env.registry, "createModel", name)
    return int(events(env, receipt, "ModelCreated")[0]["modelId"])


def add_version(
    env: RegistryContractEnv, model_id: int, v: dict[str, Any], by: Chain | None = None
) -> tuple[int, TxReceipt]:
    """Registers a version; returns its number (from VersionAdded) and the receipt."""
    receipt = transact(by or env.chain, env.registry, "addVersion", model_id, v)
    return int(events(env, receipt, "VersionAdded")[0]["version"]), receipt


def events(env: RegistryContractEnv, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    """The arguments of every `name` event the registry emitted in this transaction."""
    return [dict(e["args"]) for e in env.registry.events[name]().process_receipt(receipt, errors=DISCARD)]


def model(env: RegistryContractEnv, model_id: int) -> dict[str, Any]:
    """`getModel` as a dict keyed by the ABI's output names."""
    return _named(env, "getModel", call(env.chain, env.registry, "getModel", model_id))


def version(env: RegistryContractEnv, model_id: int, number: int) -> dict[str, Any]:
    """`getVersion`'s struct as a dict keyed by its field names."""
    return _named(env, "getVersion", call(env.chain, env.registry, "getVersion", model_id, number))


def _named(env: RegistryContractEnv, fn_name: str, values: Any) -> dict[str, Any]:
    (abi,) = [item for item in env.registry.abi if item.get("name") == fn_name]
    outputs = abi["outputs"]
    if len(outputs) == 1 and outputs[0]["type"] == "tuple":
        outputs = outputs[0]["components"]
    return {o["name"]: value for o, value in zip(outputs, values, strict=True)}


def rejected(
    env: RegistryContractEnv, action: Callable[[], Any], name: str, args: tuple[Any, ...] | None = None
) -> None:
    """`action` must revert with custom error `name` (and `args`), and nothing may be mined."""
    block = env.chain.w3.eth.block_number
    with pytest.raises(TransactionReverted) as info:
        action()
    got = info.value
    assert got.error_name == name, (got.error_name, got.error_args)
    if args is not None:
        assert _plain(got.error_args) == _plain(args)
    assert env.chain.w3.eth.block_number == block


def _plain(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Addresses compared case-insensitively: eth_abi decodes them in lower case."""
    return tuple(v.lower() if isinstance(v, str) else v for v in values)


def check_usable(
    env: RegistryContractEnv,
    model_id: int,
    verifier: str,
    caller: str,
    vka_digest: bytes = ZERO_HASH,
    params_commitment: bytes = ZERO_HASH,
) -> int:
    """`checkUsable` as a consumer would call it: its pinned model and artifact and the
    account it acts for; the version it may act on."""
    return int(call(env.chain, env.registry, "checkUsable", model_id, verifier, vka_digest, params_commitment, caller))


def version_of(env: RegistryContractEnv, model_id: int, verifier: str, vka: bytes, params: bytes) -> int:
    return int(call(env.chain, env.registry, "versionOf", model_id, verifier, vka, params))


def block_timestamp(env: RegistryContractEnv, receipt: TxReceipt) -> int:
    return int(env.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry_env(module_chain: Chain) -> RegistryContractEnv:
    """One registry deployed by anvil's first dev account on the session's chain; every test
    starts from it, empty, and leaves it so (the session's snapshot fixture)."""
    chain, compiled = module_chain, compile_registry()
    registry = contract_at(chain, deploy(chain, compiled.artifact()).address, compiled.abi)
    return RegistryContractEnv(chain, registry, compiled, signer(chain, SECOND_KEY), signer(chain, THIRD_KEY))


# --- models ------------------------------------------------------------------------------------------


def test_models_are_numbered_from_one_and_owned_by_their_creator(registry_env: RegistryContractEnv) -> None:
    """Ids start at 1 so that 0 can mean "none" in versionOf and in lineage."""
    assert call(registry_env.chain, registry_env.registry, "modelCount") == 0
    receipt = transact(registry_env.chain, registry_env.registry, "createModel", "fee")
    assert events(registry_env, receipt, "ModelCreated") == [
        {"modelId": 1, "owner": registry_env.chain.address, "name": "fee"}
    ]
    assert create_model(registry_env, "digits", by=registry_env.other) == 2
    assert call(registry_env.chain, registry_env.registry, "modelCount") == 2
    assert model(registry_env, 1) == {
        "owner": registry_env.chain.address,
        "pendingOwner": ZERO_ADDRESS,
        "restricted": False,
        "versionCount": 0,
        "name": "fee",
    }
    assert model(registry_env, 2)["owner"] == registry_env.other.address


def test_empty_name_is_rejected(registry_env: RegistryContractEnv) -> None:
    """A nameless model is a mistake in an audit trail; nothing is created."""
    rejected(
        registry_env, lambda: transact(registry_env.chain, registry_env.registry, "createModel", ""), "EmptyName", ()
    )
    assert call(registry_env.chain, registry_env.registry, "modelCount") == 0


# --- versions and lineage ---------------------------------------------------------------------------


def test_lineage_chain_of_three_versions_reads_back_field_by_field(registry_env: RegistryContractEnv) -> None:
    """v2 derives from v1 and v3 from v2; every field, and registeredAt, is what was registered."""
    model_id = create_model(registry_env)
    inputs = [
        version_input(stand_in_verifier(registry_env.chain, "a"), "v1"),
        version_input(
            stand_in_verifier(registry_env.chain, "b"), "v2", parent=1, params_commitment=digest("weights-2")
        ),
        version_input(
            stand_in_verifier(registry_env.chain, "reusable"),
            "v3",
            parent=2,
            vka_digest=digest("vka-3"),
            params_commitment=digest("weights-3"),
            ezkl_version="23.0.6",
        ),
    ]
    for number, v in enumerate(inputs, start=1):
        got, receipt = add_version(registry_env, model_id, v)
        assert got == number
        assert events(registry_env, receipt, "VersionAdded") == [
            {
                "modelId": model_id,
                "version": number,
                "parent": v["parent"],
                "verifier": v["verifier"],
                "vkaDigest": v["vkaDigest"],
                "paramsCommitment": v["paramsCommitment"],
            }
        ]
        record = version(registry_env, model_id, number)
        assert record == {**v, "registeredAt": block_timestamp(registry_env, receipt), "revoked": False}
        for field in PROVENANCE_FIELDS:  # the same, said field by field
            assert record[field] == digest(f"v{number}:{field}")
        assert version_of(registry_env, model_id, v["verifier"], v["vkaDigest"], v["paramsCommitment"]) == number
    assert model(registry_env, model_id)["versionCount"] == 3
    lineage, number = [], 3
    while number:
        lineage.append(number)
        number = version(registry_env, model_id, number)["parent"]
    assert lineage == [3, 2, 1]


def test_parent_must_be_an_existing_version_of_the_model(registry_env: RegistryContractEnv) -> None:
    """Lineage points backwards inside one model: no future version, no other model's version."""
    first, second = create_model(registry_env), create_model(registry_env, "digits")
    add_version(registry_env, first, version_input(stand_in_verifier(registry_env.chain, "a")))
    candidate = version_input(stand_in_verifier(registry_env.chain, "b"), parent=1)
    rejected(
        registry_env,
        lambda: transact(registry_env.chain, registry_env.registry, "addVersion", second, candidate),
        "UnknownParent",
        (second, 1),
    )  # version 1 exists, but of the first model
    self_parent = {**candidate, "parent": 2}
    rejected(
        registry_env,
        lambda: transact(registry_env.chain, registry_env.registry, "addVersion", first, self_parent),
        "UnknownParent",
        (first, 2),
    )  # the version being added
    assert add_version(registry_env, first, candidate)[0] == 2


def test_verifier_must_have_code(registry_env: RegistryContractEnv) -> None:
    """As in ZkmlConsumer: a zero or code-less address (a typo, not yet deployed) vouches for nothing."""
    model_id = create_model(registry_env)
    for address in (ZERO_ADDRESS, registry_env.other.address):
        v = version_input(address)
        rejected(
            registry_env,
            lambda: transact(registry_env.chain, registry_env.registry, "addVersion", model_id, v),
            "InvalidVerifier",
            (address,),
        )
    assert model(registry_env, model_id)["versionCount"] == 0


def test_duplicate_artifact_is_rejected(registry_env: RegistryContractEnv) -> None:
    """Within a model, one (verifier, VKA digest, weights) is one version; another model may
    register the same artifact (keys are per model), which changes nothing for the first."""
    first, second = create_model(registry_env), create_model(registry_env, "copycat", by=registry_env.other)
    verifier = stand_in_verifier(registry_env.chain, "a")
    add_version(registry_env, first, version_input(verifier, "v1"))
    again = version_input(verifier, "renamed")
    rejected(
        registry_env,
        lambda: transact(registry_env.chain, registry_env.registry, "addVersion", first, again),
        "DuplicateArtifact",
        (first, 1),
    )
    assert add_version(registry_env, second, again, by=registry_env.other)[0] == 1
    rejected(
        registry_env,
        lambda: transact(registry_env.other, registry_env.registry, "addVersion", second, again),
        "DuplicateArtifact",
        (second, 1),
    )
    assert version_of(registry_env, first, verifier, ZERO_HASH, ZERO_HASH) == 1
    # the same verifier with other weights, or under a VKA digest, is another artifact
    assert (
        add_version(
            registry_env, second, version_input(verifier, params_commitment=digest("w")), by=registry_env.other
        )[0]
        == 2
    )
    assert (
        add_version(registry_env, second, version_input(verifier, vka_digest=digest("vka")), by=registry_env.other)[0]
        == 3
    )


def test_artifact_key_is_the_abi_encoded_triple(registry_env: RegistryContractEnv) -> None:
    """Off-chain tools can compute the key the registry uses without calling it."""
    verifier, vka, params = stand_in_verifier(registry_env.chain, "a"), digest("vka"), digest("w")
    expected = keccak(abi_encode(["address", "bytes32", "bytes32"], [verifier, vka, params]))
    assert call(registry_env.chain, registry_env.registry, "artifactKey", verifier, vka, params) == expected


def test_unknown_version_is_rejected(registry_env: RegistryContractEnv) -> None:
    """Version numbers run 1 .. versionCount; reading or revoking another one names it."""
    model_id = create_model(registry_env)
    add_version(registry_env, model_id, version_input(stand_in_verifier(registry_env.chain, "a")))
    for number in (0, 2):
        rejected(
            registry_env,
            lambda: call(registry_env.chain, registry_env.registry, "getVersion", model_id, number),
            "UnknownVersion",
            (model_id, number),
        )
        rejected(
            registry_env,
            lambda: transact(registry_env.chain, registry_env.registry, "revokeVersion", model_id, number),
            "UnknownVersion",
            (model_id, number),
        )


# --- what consumers check -----------------------------------------------------------------------------


def test_unregistered_artifact_is_not_usable(registry_env: RegistryContractEnv) -> None:
    """A verifier nobody registered (or registered with other weights) is refused by name."""
    model_id = create_model(registry_env)
    verifier = stand_in_verifier(registry_env.chain, "a")
    add_version(registry_env, model_id, version_input(verifier, params_commitment=digest("w")))
    for vka, params in ((ZERO_HASH, ZERO_HASH), (ZERO_HASH, digest("other weights")), (digest("vka"), digest("w"))):
        assert version_of(registry_env, model_id, verifier, vka, params) == 0
        rejected(
            registry_env,
            lambda: check_usable(registry_env, model_id, verifier, registry_env.chain.address, vka, params),
            "UnregisteredArtifact",
            (model_id, verifier, vka, params),
        )
    assert (
        check_usable(registry_env, model_id, verifier, registry_env.third.address, params_commitment=digest("w")) == 1
    )


def test_revoked_version_is_not_usable(registry_env: RegistryContractEnv) -> None:
    """Revocation is permanent, affects only that version, and keeps its artifact key taken."""
    model_id = create_model(registry_env)
    old, new = stand_in_verifier(registry_env.chain, "old"), stand_in_verifier(registry_env.chain, "new")
    add_version(registry_env, model_id, version_input(old, "v1"))
    add_version(registry_env, model_id, version_input(new, "v2", parent=1))

    def usable(verifier: str) -> int:
        return check_usable(registry_env, model_id, verifier, registry_env.other.address)

    assert usable(old) == 1
    receipt = transact(registry_env.chain, registry_env.registry, "revokeVersion", model_id, 1)
    assert events(registry_env, receipt, "VersionRevoked") == [{"modelId": model_id, "version": 1}]
    rejected(registry_env, lambda: usable(old), "VersionIsRevoked", (model_id, 1))
    assert version(registry_env, model_id, 1)["revoked"] is True
    assert usable(new) == 2 and version(registry_env, model_id, 2)["revoked"] is False
    rejected(
        registry_env,
        lambda: transact(registry_env.chain, registry_env.registry, "revokeVersion", model_id, 1),
        "AlreadyRevoked",
        (model_id, 1),
    )
    rejected(
        registry_env,
        lambda: transact(registry_env.chain, registry_env.registry, "addVersion", model_id, version_input(old, "v3")),
        "DuplicateArtifact",
        (model_id, 1),
    )
    assert version_of(registry_env, model_id, old, ZERO_HASH, ZERO_HASH) == 1


def test_restricted_model_admits_only_allowlisted_callers(registry_env: RegistryContractEnv) -> None:
    """Open by default; once restricted only the allowlist passes, and reopening admits all again."""
    model_id, other_model = create_model(registry_env), create_model(registry_env, "open")
    verifier, open_verifier = stand_in_verifier(registry_env.chain, "a"), stand_in_verifier(registry_env.chain, "b")
    add_version(registry_env, model_id, version_input(verifier))
    add_version(registry_env, other_model, version_input(open_verifier))

    def usable(account: str, v: str = verifier, model: int = model_id) -> int:
        return check_usable(registry_env, model, v, account)

    everyone = (registry_env.chain.address, registry_env.other.address, registry_env.third.address)
    assert [usable(a) for a in everyone] == [1] * 3
    assert all(call(registry_env.chain, registry_env.registry, "isAllowed", model_id, a) for a in everyone)

    receipt = transact(registry_env.chain, registry_env.registry, "setAccessRestricted", model_id, True)
    assert events(registry_env, receipt, "AccessRestrictionChanged") == [{"modelId": model_id, "restricted": True}]
    assert model(registry_env, model_id)["restricted"] is True
    for account in everyone:  # the owner too: the allowlist is about use, not ownership
        rejected(registry_env, lambda: usable(account), "CallerNotAllowed", (model_id, account))
        assert call(registry_env.chain, registry_env.registry, "isAllowed", model_id, account) is False
    assert [usable(a, open_verifier, other_model) for a in everyone] == [1] * 3  # only that model

    receipt = transact(
        registry_env.chain,
        registry_env.registry,
        "setAllowed",
        model_id,
        [registry_env.other.address, registry_env.third.address],
        True,
    )
    assert events(registry_env, receipt, "AllowedChanged") == [
        {"modelId": model_id, "account": registry_env.other.address, "allowed": True},
        {"modelId": model_id, "account": registry_env.third.address, "allowed": True},
    ]
    assert usable(registry_env.other.address) == usable(registry_env.third.address) == 1
    rejected(
        registry_env,
        lambda: usable(registry_env.chain.address),
        "CallerNotAllowed",
        (model_id, registry_env.chain.address),
    )

    receipt = transact(
        registry_env.chain,
        registry_env.registry,
        "setAllowed",
        model_id,
        [registry_env.third.address, registry_env.other.address],
        False,
    )
    assert [e["account"] for e in events(registry_env, receipt, "AllowedChanged")] == [
        registry_env.third.address,
        registry_env.other.address,
    ]
    rejected(
        registry_env,
        lambda: usable(registry_env.third.address),
        "CallerNotAllowed",
        (model_id, registry_env.third.address),
    )

    receipt = transact(registry_env.chain, registry_env.registry, "setAccessRestricted", model_id, False)
    assert events(registry_env, receipt, "AccessRestrictionChanged") == [{"modelId": model_id, "restricted": False}]
    assert [usable(a) for a in everyone] == [1] * 3


def test_access_setters_emit_only_real_changes(registry_env: RegistryContractEnv) -> None:
    """Setting what is already set is harmless and silent, so the logs are the exact history."""
    model_id = create_model(registry_env)
    receipt = transact(registry_env.chain, registry_env.registry, "setAccessRestricted", model_id, False)
    assert events(registry_env, receipt, "AccessRestrictionChanged") == []
    transact(registry_env.chain, registry_env.registry, "setAllowed", model_id, [registry_env.other.address], True)
    receipt = transact(
        registry_env.chain,
        registry_env.registry,
        "setAllowed",
        model_id,
        [registry_env.other.address, registry_env.third.address],
        True,
    )
    assert events(registry_env, receipt, "AllowedChanged") == [
        {"modelId": model_id, "account": registry_env.third.address, "allowed": True}
    ]
    receipt = transact(
        registry_env.chain, registry_env.registry, "setAllowed", model_id, [registry_env.chain.address], False
    )
    assert events(registry_env, receipt, "AllowedChanged") == []


# --- ownership ----------------------------------------------------------------------------------------


def test_only_the_owner_may_change_a_model(registry_env: RegistryContractEnv) -> None:
    """Every owner-only function refuses a stranger by name, and the model stays as it was."""
    model_id = create_model(registry_env)
    add_version(registry_env, model_id, version_input(stand_in_verifier(registry_env.chain, "a")))
    before = (model(registry_env, model_id), version(registry_env, model_id, 1))
    stranger = registry_env.other
    attempts: list[tuple[str, tuple[Any, ...]]] = [
        ("addVersion", (model_id, version_input(stand_in_verifier(registry_env.chain, "b")))),
        ("revokeVersion", (model_id, 1)),
        ("transferOwnership", (model_id, stranger.address)),
        ("setAccessRestricted", (model_id, True)),
        ("setAllowed", (model_id, [stranger.address], True)),
    ]
    for fn_name, args in attempts:
        rejected(
            registry_env,
            lambda: transact(stranger, registry_env.registry, fn_name, *args),
            "NotModelOwner",
            (model_id, stranger.address),
        )
    assert (model(registry_env, model_id), version(registry_env, model_id, 1)) == before


def test_unknown_model_is_rejected_everywhere(registry_env: RegistryContractEnv) -> None:
    """Id 0 and ids never handed out name the model, for reads and writes alike."""
    create_model(registry_env)
    verifier = stand_in_verifier(registry_env.chain, "a")
    for model_id in (0, 2):
        writes: list[tuple[str, tuple[Any, ...]]] = [
            ("addVersion", (model_id, version_input(verifier))),
            ("revokeVersion", (model_id, 1)),
            ("transferOwnership", (model_id, registry_env.other.address)),
            ("acceptOwnership", (model_id,)),
            ("setAccessRestricted", (model_id, True)),
            ("setAllowed", (model_id, [registry_env.other.address], True)),
        ]
        for fn_name, args in writes:
            rejected(
                registry_env,
                lambda: transact(registry_env.chain, registry_env.registry, fn_name, *args),
                "UnknownModel",
                (model_id,),
            )
        reads: list[tuple[str, tuple[Any, ...]]] = [
            ("getModel", (model_id,)),
            ("getVersion", (model_id, 1)),
            ("isAllowed", (model_id, registry_env.other.address)),
            ("checkUsable", (model_id, verifier, ZERO_HASH, ZERO_HASH, registry_env.other.address)),
            ("versionOf", (model_id, verifier, ZERO_HASH, ZERO_HASH)),
        ]
        for fn_name, args in reads:
            rejected(
                registry_env,
                lambda: call(registry_env.chain, registry_env.registry, fn_name, *args),
                "UnknownModel",
                (model_id,),
            )


def test_ownership_moves_in_two_steps(registry_env: RegistryContractEnv) -> None:
    """The offer changes nothing until the pending owner accepts; then the old owner has no rights."""
    model_id = create_model(registry_env)
    owner, heir, stranger = registry_env.chain, registry_env.other, registry_env.third
    rejected(
        registry_env,
        lambda: transact(heir, registry_env.registry, "acceptOwnership", model_id),
        "NotPendingOwner",
        (model_id, heir.address),
    )  # nothing offered yet

    receipt = transact(owner, registry_env.registry, "transferOwnership", model_id, heir.address)
    assert events(registry_env, receipt, "OwnershipTransferStarted") == [
        {"modelId": model_id, "owner": owner.address, "pendingOwner": heir.address}
    ]
    assert model(registry_env, model_id)["owner"] == owner.address
    assert model(registry_env, model_id)["pendingOwner"] == heir.address
    add_version(
        registry_env, model_id, version_input(stand_in_verifier(registry_env.chain, "a")), by=owner
    )  # still the owner's
    rejected(
        registry_env,
        lambda: transact(heir, registry_env.registry, "revokeVersion", model_id, 1),
        "NotModelOwner",
        (model_id, heir.address),
    )  # pending is not owner
    rejected(
        registry_env,
        lambda: transact(stranger, registry_env.registry, "acceptOwnership", model_id),
        "NotPendingOwner",
        (model_id, stranger.address),
    )

    receipt = transact(heir, registry_env.registry, "acceptOwnership", model_id)
    assert events(registry_env, receipt, "OwnershipTransferred") == [
        {"modelId": model_id, "previousOwner": owner.address, "newOwner": heir.address}
    ]
    assert model(registry_env, model_id)["owner"] == heir.address
    assert model(registry_env, model_id)["pendingOwner"] == ZERO_ADDRESS
    rejected(
        registry_env,
        lambda: transact(heir, registry_env.registry, "acceptOwnership", model_id),
        "NotPendingOwner",
        (model_id, heir.address),
    )  # the offer is used up
    for fn_name, args in (
        ("revokeVersion", (model_id, 1)),
        ("setAccessRestricted", (model_id, True)),
        ("transferOwnership", (model_id, owner.address)),
    ):
        rejected(
            registry_env,
            lambda: transact(owner, registry_env.registry, fn_name, *args),
            "NotModelOwner",
            (model_id, owner.address),
        )
    transact(heir, registry_env.registry, "revokeVersion", model_id, 1)
    assert (
        add_version(
            registry_env, model_id, version_input(stand_in_verifier(registry_env.chain, "b"), parent=1), by=heir
        )[0]
        == 2
    )


def test_ownership_offer_can_be_cancelled_or_replaced(registry_env: RegistryContractEnv) -> None:
    """Offering to 0 withdraws the offer; a new offer replaces the old one."""
    model_id = create_model(registry_env)
    owner, heir, other_heir = registry_env.chain, registry_env.other, registry_env.third
    transact(owner, registry_env.registry, "transferOwnership", model_id, heir.address)
    receipt = transact(owner, registry_env.registry, "transferOwnership", model_id, ZERO_ADDRESS)
    assert events(registry_env, receipt, "OwnershipTransferStarted") == [
        {"modelId": model_id, "owner": owner.address, "pendingOwner": ZERO_ADDRESS}
    ]
    assert model(registry_env, model_id)["pendingOwner"] == ZERO_ADDRESS
    rejected(
        registry_env,
        lambda: transact(heir, registry_env.registry, "acceptOwnership", model_id),
        "NotPendingOwner",
        (model_id, heir.address),
    )

    transact(owner, registry_env.registry, "transferOwnership", model_id, heir.address)
    transact(owner, registry_env.registry, "transferOwnership", model_id, other_heir.address)
    rejected(
        registry_env,
        lambda: transact(heir, registry_env.registry, "acceptOwnership", model_id),
        "NotPendingOwner",
        (model_id, heir.address),
    )
    transact(other_heir, registry_env.registry, "acceptOwnership", model_id)
    assert model(registry_env, model_id)["owner"] == other_heir.address


def test_allowlist_stays_with_the_model_across_a_transfer(registry_env: RegistryContractEnv) -> None:
    """Access is the model's, not the owner's: a new owner inherits restriction and allowlist."""
    model_id = create_model(registry_env)
    verifier = stand_in_verifier(registry_env.chain, "a")
    add_version(registry_env, model_id, version_input(verifier))
    transact(registry_env.chain, registry_env.registry, "setAccessRestricted", model_id, True)
    transact(registry_env.chain, registry_env.registry, "setAllowed", model_id, [registry_env.third.address], True)
    transact(registry_env.chain, registry_env.registry, "transferOwnership", model_id, registry_env.other.address)
    transact(registry_env.other, registry_env.registry, "acceptOwnership", model_id)
    assert check_usable(registry_env, model_id, verifier, registry_env.third.address) == 1
    rejected(
        registry_env,
        lambda: check_usable(registry_env, model_id, verifier, registry_env.other.address),
        "CallerNotAllowed",
        (model_id, registry_env.other.address),
    )


# --- size and gas -----------------------------------------------------------------------------------------


def test_registry_fits_eip170(registry_env: RegistryContractEnv) -> None:
    """It must deploy on mainnet-like chains, which refuse runtime code over 24,576 bytes."""
    assert registry_env.compiled.runtime_size < EIP170_LIMIT


def test_gas_of_the_common_calls(registry_env: RegistryContractEnv) -> None:
    """Gas as eth_estimateGas reports it (printed for the record; the bounds catch regressions)."""
    gas = {"createModel": estimate_gas(registry_env.chain, registry_env.registry, "createModel", "fee")}
    model_id = create_model(registry_env)
    first = version_input(stand_in_verifier(registry_env.chain, "a"), "v1")
    gas["addVersion (first, no parent)"] = estimate_gas(
        registry_env.chain, registry_env.registry, "addVersion", model_id, first
    )
    add_version(registry_env, model_id, first)
    second = version_input(stand_in_verifier(registry_env.chain, "b"), "v2", parent=1, params_commitment=digest("w"))
    gas["addVersion (parent, weights commitment)"] = estimate_gas(
        registry_env.chain, registry_env.registry, "addVersion", model_id, second
    )
    check = ("checkUsable", model_id, first["verifier"], ZERO_HASH, ZERO_HASH, registry_env.other.address)
    gas["checkUsable (open model)"] = estimate_gas(registry_env.chain, registry_env.registry, *check)
    transact(registry_env.chain, registry_env.registry, "setAccessRestricted", model_id, True)
    transact(registry_env.chain, registry_env.registry, "setAllowed", model_id, [registry_env.other.address], True)
    gas["checkUsable (restricted, allowlisted)"] = estimate_gas(registry_env.chain, registry_env.registry, *check)
    for name, value in gas.items():
        print(f"gas {name}: {value}")
    assert gas["createModel"] < 100_000
    assert gas["addVersion (first, no parent)"] < 350_000
    assert gas["addVersion (parent, weights commitment)"] < 350_000
    assert gas["checkUsable (restricted, allowlisted)"] < 40_000


# --- rule 7: every custom error has a test -------------------------------------------------------------------

ERROR_TESTS = {
    "UnregisteredArtifact": "test_unregistered_artifact_is_not_usable",
    "VersionIsRevoked": "test_revoked_version_is_not_usable",
    "CallerNotAllowed": "test_restricted_model_admits_only_allowlisted_callers",
    "UnknownModel": "test_unknown_model_is_rejected_everywhere",
    "UnknownVersion": "test_unknown_version_is_rejected",
    "NotModelOwner": "test_only_the_owner_may_change_a_model",
    "NotPendingOwner": "test_ownership_moves_in_two_steps",
    "EmptyName": "test_empty_name_is_rejected",
    "InvalidVerifier": "test_verifier_must_have_code",
    "UnknownParent": "test_parent_must_be_an_existing_version_of_the_model",
    "DuplicateArtifact": "test_duplicate_artifact_is_rejected",
    "AlreadyRevoked": "test_revoked_version_is_not_usable",
}


def test_every_custom_error_has_a_test(registry_env: RegistryContractEnv) -> None:
    """Rule 7: a new custom error fails here until a test triggers it by name."""
    declared = {item["name"] for item in registry_env.compiled.abi if item["type"] == "error"}
    assert declared == set(ERROR_TESTS)
    for error, test_name in ERROR_TESTS.items():
        source = inspect.getsource(globals()[test_name])
        assert f'"{error}"' in source, (error, test_name)


def test_every_event_is_checked(registry_env: RegistryContractEnv) -> None:
    """Every event the registry declares has its arguments checked by some test in this file."""
    declared = {item["name"] for item in registry_env.compiled.abi if item["type"] == "event"}
    source = Path(__file__).read_text()
    for name in declared:
        assert f'events(registry_env, receipt, "{name}")' in source, name
