"""The model registry end to end on a real anvil: register, audit, revoke, allow, and the pool's check.

The module sets up, on the session's anvil, the fee verifier, the registry with fee
registered as version 1, and a pool pinned to both with 9 prices recorded; one proof of
the pool's state is made once. CLI commands reach that anvil through --rpc-url. Each test
starts from the module's chain state (snapshot/revert) and the module's deployment record.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from contract_env import PARAMS, SECOND_KEY, Proof, fee_pool, prove_pool, reverted

from models.fee import WINDOW, simulate_prices
from prover.consumers.base import NO_REGISTRY
from prover.errors import ProverError, TransactionReverted
from prover.evm.client import Chain, call, connect, contract_at, deploy, transact
from prover.evm.deployments import deployments_path
from prover.evm.node import DEV_PRIVATE_KEY
from prover.evm.solc import load_artifact
from prover.evm.verifier import deploy_verifier
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import open_registry, read_lineage, version_record
from prover.registry.versions import audit, register

pytestmark = pytest.mark.chain


@dataclass(frozen=True)
class RegistryEnv:
    chain: Chain
    work: Path
    circuit: Circuit
    registry: Any
    verifier: str
    pool: Any
    proof: Proof
    register_gas: int
    create_gas: int


@pytest.fixture(scope="module")
def registry_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> RegistryEnv:
    chain = module_chain
    work = tmp_path_factory.mktemp("registry") / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    circuit = open_circuit("fee", work)
    verifier = deploy_verifier(chain, circuit).address
    registry = open_registry(chain, work, deploy_if_missing=True)
    registration = register(chain, registry, circuit, verifier=verifier)
    assert registration.create_gas is not None
    pool = fee_pool(chain, circuit, verifier, PARAMS, registry.address, registration.model_id)
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(chain, pool, "recordPrice", price)
    proof = prove_pool(chain, pool, circuit, work / "pool.proof.json")
    return RegistryEnv(
        chain, work, circuit, registry, verifier, pool, proof, registration.register_gas, registration.create_gas
    )


@pytest.fixture(autouse=True)
def fresh_record(registry_env: RegistryEnv) -> Iterator[None]:
    """Every test sees the module's deployment record, whatever the last one did (the chain
    itself is reverted by the session's snapshot fixture)."""
    record = deployments_path(registry_env.work, registry_env.chain.chain_id)
    saved = record.read_bytes()
    yield
    record.write_bytes(saved)


def cli(registry_env: RegistryEnv, *args: str | Path, key: str = DEV_PRIVATE_KEY) -> Any:
    assert registry_env.chain.node is not None
    return run_cli(
        *args, "--rpc-url", registry_env.chain.node.rpc_url, "--private-key", key, "--workdir", registry_env.work
    )


def update_fee(registry_env: RegistryEnv, chain: Chain | None = None) -> Any:
    chain = chain or registry_env.chain
    pool = contract_at(chain, registry_env.pool.address, registry_env.pool.abi)
    return transact(
        chain, pool, "updateFee", registry_env.proof.epoch, registry_env.proof.raw, registry_env.proof.instances
    )


def rejected_update(registry_env: RegistryEnv, name: str, chain: Chain | None = None) -> TransactionReverted:
    fee_before = call(registry_env.chain, registry_env.pool, "feeBps")
    with pytest.raises(TransactionReverted) as info:
        update_fee(registry_env, chain)
    assert info.value.error_name == name, info.value
    assert call(registry_env.chain, registry_env.pool, "feeBps") == fee_before
    return info.value


def as_second_account(registry_env: RegistryEnv) -> contextlib.AbstractContextManager[Chain]:
    assert registry_env.chain.node is not None
    return connect(registry_env.chain.node.rpc_url, SECOND_KEY)


def test_register_then_audit_passes(registry_env: RegistryEnv) -> None:
    report = audit(registry_env.chain, registry_env.registry, registry_env.circuit, 1, 1)
    assert report.mismatched == [] and not report.revoked and report.parent == 0
    assert {row.field for row in report.rows} >= {
        "onnxHash",
        "datasetHash",
        "settingsHash",
        "circuitHash",
        "vkHash",
        "srsHash",
        "lineageHash",
        "ezklVersion",
        "verifier code",
    }
    lineage = next(row for row in report.rows if row.field == "lineageHash")
    assert lineage.onchain != "0x" + "00" * 32, "a reference model's lineage file is registered"
    result = cli(registry_env, "audit", "fee")
    assert result.code == 0, result.stderr
    assert "MISMATCH" not in result.stdout and result.stdout.count("match") >= 10
    print(f"gas: createModel {registry_env.create_gas:,}, addVersion {registry_env.register_gas:,}")


def test_a_third_party_audits_with_the_files_and_the_registry_address(
    registry_env: RegistryEnv, tmp_path: Path
) -> None:
    """Someone given the circuit folder (no deployment record of ours) names registry and model."""
    theirs = tmp_path / "theirs"
    shutil.copytree(registry_env.circuit.paths.root, theirs / "circuits" / "fee")
    assert registry_env.chain.node is not None
    common = ("--rpc-url", registry_env.chain.node.rpc_url, "--private-key", SECOND_KEY, "--workdir", theirs)
    result = run_cli("audit", "fee", "--registry", registry_env.registry.address, "--model", "1", *common)
    assert result.code == 0, result.stderr
    unnamed = run_cli("audit", "fee", "--registry", registry_env.registry.address, *common)
    assert unnamed.code == 2 and "--model ID" in unnamed.stderr


@pytest.mark.parametrize(("target", "field"), [("network.onnx", "onnxHash"), ("training_data.npz", "datasetHash")])
def test_one_changed_byte_fails_the_audit_naming_the_field(registry_env: RegistryEnv, target: str, field: str) -> None:
    path = registry_env.circuit.paths.root / target
    original = path.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    path.write_bytes(bytes(changed))
    try:
        result = cli(registry_env, "audit", "fee", "--json")
    finally:
        path.write_bytes(original)
    assert result.code == 1, result.stderr
    assert json.loads(result.stdout)["mismatched"] == [field]
    assert f"error: fee differs from its on-chain record in: {field}" in result.stderr
    assert "Traceback" not in result.stderr


def test_registry_check_lets_the_active_version_update_the_fee(registry_env: RegistryEnv) -> None:
    """The registered, open model updates the fee; the check costs updateFee's extra gas over
    the same update on a pool without a registry."""
    checked = int(update_fee(registry_env)["gasUsed"])
    unchecked_pool = fee_pool(registry_env.chain, registry_env.circuit, registry_env.verifier, PARAMS)
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(registry_env.chain, unchecked_pool, "recordPrice", price)
    unchecked = int(
        transact(
            registry_env.chain,
            unchecked_pool,
            "updateFee",
            registry_env.proof.epoch,
            registry_env.proof.raw,
            registry_env.proof.instances,
        )["gasUsed"]
    )
    print(f"gas: updateFee with registry {checked:,}, without {unchecked:,}, registry check {checked - unchecked:,}")
    assert 0 < checked - unchecked < 20_000


def test_revoked_version_stops_the_pool_accepting_its_proofs(registry_env: RegistryEnv) -> None:
    result = cli(registry_env, "revoke", "fee", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 1
    error = rejected_update(registry_env, "VersionIsRevoked")
    assert error.error_args == (1, 1)
    assert version_record(registry_env.chain, registry_env.registry, 1, 1)["revoked"] is True
    audit_result = cli(registry_env, "audit", "fee")
    assert audit_result.code == 0 and "REVOKED" in audit_result.stdout  # revoked, yet unaltered


def test_restricted_model_rejects_callers_not_on_its_allowlist(registry_env: RegistryEnv) -> None:
    with as_second_account(registry_env) as second:
        allowed = cli(registry_env, "allow", "fee", second.address)
        assert allowed.code == 0, allowed.stderr
        error = rejected_update(registry_env, "CallerNotAllowed")  # the owner itself is not on the list
        assert error.error_args[0] == 1 and str(error.error_args[1]).lower() == registry_env.chain.address.lower()
        with reverted(registry_env.chain):
            assert update_fee(registry_env, second)["status"] == 1
        assert cli(registry_env, "disallow", "fee", second.address).code == 0
        rejected_update(registry_env, "CallerNotAllowed", second)
    assert cli(registry_env, "allow", "fee", "--everyone").code == 0
    assert update_fee(registry_env)["status"] == 1


def test_only_the_owner_can_add_revoke_or_allow(registry_env: RegistryEnv) -> None:
    for args in (("revoke", "fee"), ("allow", "fee", "--everyone"), ("disallow", "fee", registry_env.chain.address)):
        result = cli(registry_env, *args, key=SECOND_KEY)
        assert result.code == 2, result.stderr
        assert "NotModelOwner" in result.stderr and "Traceback" not in result.stderr
    with as_second_account(registry_env) as second:
        registry = contract_at(second, registry_env.registry.address, registry_env.registry.abi)
        sent = second.w3.eth.get_transaction_count(second.address)
        with pytest.raises(ProverError, match="is owned by"):  # refused before deploying a verifier
            register(second, registry, registry_env.circuit)
        assert second.w3.eth.get_transaction_count(second.address) == sent


def test_register_checks_the_parent_before_any_transaction(registry_env: RegistryEnv) -> None:
    sent = registry_env.chain.w3.eth.get_transaction_count(registry_env.chain.address)
    result = cli(registry_env, "register", "fee", "--parent", "7")
    assert result.code == 2 and "--parent 7" in result.stderr and "Traceback" not in result.stderr
    assert registry_env.chain.w3.eth.get_transaction_count(registry_env.chain.address) == sent


@pytest.mark.slow
def test_two_step_handover_on_the_command_line(registry_env: RegistryEnv, tmp_path: Path) -> None:
    """Offer, accept from the new owner's own workdir, then only the new owner acts; its next
    version descends from the last one."""
    theirs = tmp_path / "theirs"
    shutil.copytree(registry_env.circuit.paths.root, theirs / "circuits" / "fee")
    assert registry_env.chain.node is not None
    with as_second_account(registry_env) as second:
        offered = cli(registry_env, "transfer", "fee", second.address, "--json")
        assert offered.code == 0, offered.stderr
        common = ("--rpc-url", registry_env.chain.node.rpc_url, "--private-key", SECOND_KEY, "--workdir", theirs)
        assert run_cli("revoke", "fee", "--registry", registry_env.registry.address, "--model", "1", *common).code == 2
        accepted = run_cli("accept", "fee", "--registry", registry_env.registry.address, "--model", "1", *common)
        assert accepted.code == 0, accepted.stderr
        owner = call(registry_env.chain, registry_env.registry, "getModel", 1)[0]
        assert owner.lower() == second.address.lower()
        former = cli(registry_env, "revoke", "fee")
        assert former.code == 2 and "NotModelOwner" in former.stderr
        registered = run_cli("register", "fee", "--json", *common)
        assert registered.code == 0, registered.stderr
        document = json.loads(registered.stdout)
        assert (document["model_id"], document["version"], document["parent"]) == (1, 2, 1)


def test_register_then_deploy_then_submit_agree(registry_env: RegistryEnv) -> None:
    """The guide's order on the command line: `deploy` after `register` reuses the registered
    verifier and pins the registry, so the pool accepts the model's proofs."""
    deployed = cli(registry_env, "deploy", "fee", "--json")
    assert deployed.code == 0, deployed.stderr
    document = json.loads(deployed.stdout)
    assert document["verifier"] == registry_env.verifier and document["verifier_reused"] is True
    assert document["registry"] == registry_env.registry.address
    pool = contract_at(registry_env.chain, document["address"], registry_env.pool.abi)
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(registry_env.chain, pool, "recordPrice", price)
    submitted = cli(registry_env, "submit", "fee", "--json")
    assert submitted.code == 0, submitted.stderr
    assert json.loads(submitted.stdout)["epoch"] == WINDOW


def test_registering_the_same_artifacts_twice_is_refused(registry_env: RegistryEnv) -> None:
    result = cli(registry_env, "register", "fee")
    assert result.code == 2 and "DuplicateArtifact" in result.stderr and "Traceback" not in result.stderr


def test_unregistered_verifier_is_rejected_by_the_pool(registry_env: RegistryEnv) -> None:
    """A pool pinned to the registry refuses a verifier no version vouches for."""
    stranger = deploy(
        registry_env.chain, load_artifact(registry_env.work / "out" / "fee" / "Halo2Verifier.json", "verifier")
    )
    pool = fee_pool(
        registry_env.chain, registry_env.circuit, stranger.address, PARAMS, registry_env.registry.address, 1
    )
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(registry_env.chain, pool, "recordPrice", price)
    with pytest.raises(TransactionReverted) as info:
        transact(
            registry_env.chain,
            pool,
            "updateFee",
            registry_env.proof.epoch,
            registry_env.proof.raw,
            registry_env.proof.instances,
        )
    assert info.value.error_name == "UnregisteredArtifact"
    assert info.value.error_args[0] == 1 and str(info.value.error_args[1]).lower() == stranger.address.lower()


def test_registry_without_code_is_refused_at_deployment(registry_env: RegistryEnv) -> None:
    with pytest.raises(TransactionReverted) as info:
        fee_pool(registry_env.chain, registry_env.circuit, registry_env.verifier, PARAMS, registry_env.chain.address, 1)
    assert info.value.error_name == "InvalidRegistry"
    assert registry_env.chain.address != NO_REGISTRY


def test_lineage_of_three_versions_reads_back(registry_env: RegistryEnv) -> None:
    """v2 and v3 (each its own verifier deployment) chain back to v1; every audit passes."""
    artifact = load_artifact(registry_env.work / "out" / "fee" / "Halo2Verifier.json", "verifier")
    versions = []
    for _ in range(2):
        copy = deploy(registry_env.chain, artifact).address
        versions.append(register(registry_env.chain, registry_env.registry, registry_env.circuit, verifier=copy))
    assert [(v.version, v.parent) for v in versions] == [(2, 1), (3, 2)]
    assert read_lineage(registry_env.chain, registry_env.registry, 1, 3) == [3, 2, 1]
    for version in (1, 2, 3):
        record = version_record(registry_env.chain, registry_env.registry, 1, version)
        assert record["vkHash"].hex() == registry_env.circuit.manifest.files["vk"].sha256
        assert audit(registry_env.chain, registry_env.registry, registry_env.circuit, 1, version).mismatched == []
    explicit = register(
        registry_env.chain,
        registry_env.registry,
        registry_env.circuit,
        verifier=deploy(registry_env.chain, artifact).address,
        parent=1,
    )
    assert read_lineage(registry_env.chain, registry_env.registry, 1, explicit.version) == [4, 1]
