"""The model registry end to end on a real anvil: register, audit, revoke, allow, and the pool's check.

One anvil per module holds the fee verifier, the registry with fee registered as version 1,
and a pool pinned to both with 9 prices recorded; one proof of the pool's state is made
once. CLI commands reach that anvil through --rpc-url. Each test starts from the module's
chain state (snapshot/revert) and the module's deployment record.
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
from contract_env import PARAMS, SECOND_KEY, Proof, load, revert_to, snapshot
from models.fee import WINDOW, simulate_prices
from prover.artifacts import CircuitPaths, Manifest
from prover.chain import DEV_PRIVATE_KEY, Chain, call, connect, contract_at, deploy, transact
from prover.deployments import deployments_path
from prover.errors import TransactionReverted
from prover.onchain import NO_REGISTRY, deploy_fee_pool, deploy_verifier, fee_pool, prove_pool_state
from prover.pipeline import open_circuit
from prover.registry import audit, open_registry, read_lineage, register, version_record
from prover.solc import load_artifact


@dataclass(frozen=True)
class RegistryEnv:
    chain: Chain
    work: Path
    paths: CircuitPaths
    manifest: Manifest
    registry: Any
    verifier: str
    pool: Any
    proof: Proof
    register_gas: int
    create_gas: int


@pytest.fixture(scope="module")
def reg(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryEnv]:
    work = tmp_path_factory.mktemp("registry") / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    paths, manifest = open_circuit("fee", work)
    with connect(None, log_dir=work) as chain:
        verifier = deploy_verifier(chain, paths, manifest).address
        registry = open_registry(chain, work, deploy_if_missing=True)
        registration = register(chain, registry, paths, manifest, verifier=verifier)
        assert registration.create_gas is not None
        pool = fee_pool(chain, work, deploy_fee_pool(chain, work, verifier, manifest, PARAMS, registry.address).address)
        for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
            transact(chain, pool, "recordPrice", price)
        proof = load(*prove_pool_state(pool, chain, paths, manifest, work / "pool.proof.json")[:2])
        yield RegistryEnv(chain, work, paths, manifest, registry, verifier, pool, proof,
                          registration.register_gas, registration.create_gas)


@pytest.fixture(autouse=True)
def fresh_state(reg: RegistryEnv) -> Iterator[None]:
    """Every test sees the module's chain and deployment record, whatever the last one did."""
    snap = snapshot(reg.chain)
    record = deployments_path(reg.work, reg.chain.chain_id)
    saved = record.read_bytes()
    yield
    revert_to(reg.chain, snap)
    record.write_bytes(saved)


def cli(reg: RegistryEnv, *args: str | Path, key: str = DEV_PRIVATE_KEY) -> Any:
    assert reg.chain.node is not None
    return run_cli(*args, "--rpc-url", reg.chain.node.rpc_url, "--private-key", key, "--workdir", reg.work)


def update_fee(reg: RegistryEnv, chain: Chain | None = None) -> Any:
    chain = chain or reg.chain
    pool = contract_at(chain, reg.pool.address, reg.pool.abi)
    return transact(chain, pool, "updateFee", reg.proof.epoch, reg.proof.raw, reg.proof.instances)


def rejected_update(reg: RegistryEnv, name: str, chain: Chain | None = None) -> TransactionReverted:
    fee_before = call(reg.chain, reg.pool, "feeBps")
    with pytest.raises(TransactionReverted) as info:
        update_fee(reg, chain)
    assert info.value.error_name == name, info.value
    assert call(reg.chain, reg.pool, "feeBps") == fee_before
    return info.value


def as_second_account(reg: RegistryEnv) -> contextlib.AbstractContextManager[Chain]:
    assert reg.chain.node is not None
    return connect(reg.chain.node.rpc_url, SECOND_KEY)


def test_register_then_audit_passes(reg: RegistryEnv) -> None:
    report = audit(reg.chain, reg.registry, reg.paths, reg.manifest, 1, 1)
    assert report.mismatched == [] and not report.revoked and report.parent == 0
    assert {row.field for row in report.rows} >= {"onnxHash", "datasetHash", "settingsHash", "circuitHash",
                                                   "vkHash", "srsHash", "lineageHash", "ezklVersion",
                                                   "verifier code"}
    lineage = next(row for row in report.rows if row.field == "lineageHash")
    assert lineage.onchain != "0x" + "00" * 32, "a reference model's lineage file is registered"
    result = cli(reg, "audit", "fee")
    assert result.code == 0, result.stderr
    assert "MISMATCH" not in result.stderr and result.stderr.count("match") >= 10
    print(f"gas: createModel {reg.create_gas:,}, addVersion {reg.register_gas:,}")


def test_a_third_party_audits_with_the_files_and_the_registry_address(reg: RegistryEnv, tmp_path: Path) -> None:
    """Someone given the circuit folder (no deployment record of ours) names registry and model."""
    theirs = tmp_path / "theirs"
    shutil.copytree(reg.paths.root, theirs / "circuits" / "fee")
    assert reg.chain.node is not None
    common = ("--rpc-url", reg.chain.node.rpc_url, "--private-key", SECOND_KEY, "--workdir", theirs)
    result = run_cli("audit", "fee", "--registry", reg.registry.address, "--model", "1", *common)
    assert result.code == 0, result.stderr
    unnamed = run_cli("audit", "fee", "--registry", reg.registry.address, *common)
    assert unnamed.code == 2 and "--model ID" in unnamed.stderr


@pytest.mark.parametrize(("target", "field"), [("network.onnx", "onnxHash"), ("training_data.npz", "datasetHash")])
def test_one_changed_byte_fails_the_audit_naming_the_field(reg: RegistryEnv, target: str, field: str) -> None:
    path = reg.paths.root / target
    original = path.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    path.write_bytes(bytes(changed))
    try:
        result = cli(reg, "audit", "fee", "--json")
    finally:
        path.write_bytes(original)
    assert result.code == 1, result.stderr
    assert json.loads(result.stdout)["mismatched"] == [field]
    assert f"error: fee differs from its on-chain record in: {field}" in result.stderr
    assert "Traceback" not in result.stderr


def test_registry_check_lets_the_active_version_update_the_fee(reg: RegistryEnv) -> None:
    """The registered, open model updates the fee; the check costs updateFee's extra gas over
    the same update on a pool without a registry."""
    checked = int(update_fee(reg)["gasUsed"])
    unchecked_pool = fee_pool(reg.chain, reg.work, deploy_fee_pool(reg.chain, reg.work, reg.verifier, reg.manifest,
                                                                   PARAMS).address)
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(reg.chain, unchecked_pool, "recordPrice", price)
    unchecked = int(transact(reg.chain, unchecked_pool, "updateFee", reg.proof.epoch, reg.proof.raw,
                             reg.proof.instances)["gasUsed"])
    print(f"gas: updateFee with registry {checked:,}, without {unchecked:,}, registry check {checked - unchecked:,}")
    assert 0 < checked - unchecked < 20_000


def test_revoked_version_stops_the_pool_accepting_its_proofs(reg: RegistryEnv) -> None:
    result = cli(reg, "revoke", "fee", "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["version"] == 1
    error = rejected_update(reg, "VersionIsRevoked")
    assert error.error_args == (1, 1)
    assert version_record(reg.chain, reg.registry, 1, 1)["revoked"] is True
    audit_result = cli(reg, "audit", "fee")
    assert audit_result.code == 0 and "REVOKED" in audit_result.stderr  # revoked, yet unaltered


def test_restricted_model_rejects_callers_not_on_its_allowlist(reg: RegistryEnv) -> None:
    with as_second_account(reg) as second:
        allowed = cli(reg, "allow", "fee", second.address)
        assert allowed.code == 0, allowed.stderr
        error = rejected_update(reg, "CallerNotAllowed")  # the owner itself is not on the list
        assert error.error_args[0] == 1 and str(error.error_args[1]).lower() == reg.chain.address.lower()
        snap = snapshot(reg.chain)
        assert update_fee(reg, second)["status"] == 1
        revert_to(reg.chain, snap)
        assert cli(reg, "disallow", "fee", second.address).code == 0
        rejected_update(reg, "CallerNotAllowed", second)
    assert cli(reg, "allow", "fee", "--everyone").code == 0
    assert update_fee(reg)["status"] == 1


def test_only_the_owner_can_add_revoke_or_allow(reg: RegistryEnv) -> None:
    for args in (("revoke", "fee"), ("allow", "fee", "--everyone"), ("disallow", "fee", reg.chain.address)):
        result = cli(reg, *args, key=SECOND_KEY)
        assert result.code == 2, result.stderr
        assert "NotModelOwner" in result.stderr and "Traceback" not in result.stderr
    with as_second_account(reg) as second, pytest.raises(TransactionReverted) as info:
        registry = contract_at(second, reg.registry.address, reg.registry.abi)
        register(second, registry, reg.paths, reg.manifest, verifier=deploy_verifier(second, reg.paths,
                                                                                      reg.manifest).address)
    assert info.value.error_name == "NotModelOwner"


def test_two_step_handover_on_the_command_line(reg: RegistryEnv, tmp_path: Path) -> None:
    """Offer, accept from the new owner's own workdir, then only the new owner acts; its next
    version descends from the last one."""
    theirs = tmp_path / "theirs"
    shutil.copytree(reg.paths.root, theirs / "circuits" / "fee")
    assert reg.chain.node is not None
    with as_second_account(reg) as second:
        offered = cli(reg, "transfer", "fee", second.address, "--json")
        assert offered.code == 0, offered.stderr
        common = ("--rpc-url", reg.chain.node.rpc_url, "--private-key", SECOND_KEY, "--workdir", theirs)
        assert run_cli("revoke", "fee", "--registry", reg.registry.address, "--model", "1", *common).code == 2
        accepted = run_cli("accept", "fee", "--registry", reg.registry.address, "--model", "1", *common)
        assert accepted.code == 0, accepted.stderr
        owner = call(reg.chain, reg.registry, "getModel", 1)[0]
        assert owner.lower() == second.address.lower()
        former = cli(reg, "revoke", "fee")
        assert former.code == 2 and "NotModelOwner" in former.stderr
        registered = run_cli("register", "fee", "--json", *common)
        assert registered.code == 0, registered.stderr
        document = json.loads(registered.stdout)
        assert (document["model_id"], document["version"], document["parent"]) == (1, 2, 1)


def test_registering_the_same_artifacts_twice_is_refused(reg: RegistryEnv) -> None:
    result = cli(reg, "register", "fee")
    assert result.code == 2 and "DuplicateArtifact" in result.stderr and "Traceback" not in result.stderr


def test_unregistered_verifier_is_rejected_by_the_pool(reg: RegistryEnv) -> None:
    """A pool pinned to the registry refuses a verifier no version vouches for."""
    stranger = deploy(reg.chain, load_artifact(reg.work / "out" / "fee" / "Halo2Verifier.json", "verifier"))
    pool = fee_pool(reg.chain, reg.work, deploy_fee_pool(reg.chain, reg.work, stranger.address, reg.manifest, PARAMS,
                                                         reg.registry.address).address)
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(reg.chain, pool, "recordPrice", price)
    with pytest.raises(TransactionReverted) as info:
        transact(reg.chain, pool, "updateFee", reg.proof.epoch, reg.proof.raw, reg.proof.instances)
    assert info.value.error_name == "UnregisteredArtifact"
    assert str(info.value.error_args[0]).lower() == stranger.address.lower()


def test_registry_without_code_is_refused_at_deployment(reg: RegistryEnv) -> None:
    with pytest.raises(TransactionReverted) as info:
        deploy_fee_pool(reg.chain, reg.work, reg.verifier, reg.manifest, PARAMS, reg.chain.address)
    assert info.value.error_name == "InvalidRegistry"
    assert NO_REGISTRY != reg.chain.address


def test_lineage_of_three_versions_reads_back(reg: RegistryEnv) -> None:
    """v2 and v3 (each its own verifier deployment) chain back to v1; every audit passes."""
    artifact = load_artifact(reg.work / "out" / "fee" / "Halo2Verifier.json", "verifier")
    versions = []
    for _ in range(2):
        copy = deploy(reg.chain, artifact).address
        versions.append(register(reg.chain, reg.registry, reg.paths, reg.manifest, verifier=copy))
    assert [(v.version, v.parent) for v in versions] == [(2, 1), (3, 2)]
    assert read_lineage(reg.chain, reg.registry, 1, 3) == [3, 2, 1]
    for version in (1, 2, 3):
        record = version_record(reg.chain, reg.registry, 1, version)
        assert record["vkHash"].hex() == reg.manifest.files["vk"].sha256
        assert audit(reg.chain, reg.registry, reg.paths, reg.manifest, 1, version).mismatched == []
    explicit = register(reg.chain, reg.registry, reg.paths, reg.manifest,
                        verifier=deploy(reg.chain, artifact).address, parent=1)
    assert read_lineage(reg.chain, reg.registry, 1, explicit.version) == [4, 1]
