"""Consumers pin a model, not a verifier: squatting, command order and argument checks on
the command line, on a real anvil with the real fee circuit.

Anyone may register any verifier under a model of their own. Before model pinning, the
first registration of a verifier owned it registry-wide: a stranger who registered the fee
verifier first made the honest `prover register` fail with `DuplicateArtifact`, could
restrict or revoke it, and a pool pinned to that verifier was bricked for good.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, run_cli
from contract_env import second_account

from models.fee import WINDOW, simulate_prices
from prover.evm.client import Chain, call, contract_at, transact
from prover.evm.node import DEV_ADDRESS, DEV_PRIVATE_KEY
from prover.evm.solc import load_artifact
from prover.evm.verifier import deploy_verifier
from prover.proving.circuit import open_circuit
from prover.registry.contract import open_registry
from prover.registry.versions import register

pytestmark = pytest.mark.chain


@dataclass(frozen=True)
class PinEnv:
    chain: Chain
    root: Path
    built: Path
    registry: Any


@pytest.fixture(scope="module")
def pin_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> PinEnv:
    """A fresh registry on the module's chain (recorded in no workdir of the tests)."""
    root = tmp_path_factory.mktemp("pinning")
    deployer = root / "deployer"
    shutil.copytree(built / "circuits" / "fee", deployer / "circuits" / "fee")
    return PinEnv(module_chain, root, built, open_registry(module_chain, deployer, deploy_if_missing=True))


def workdir(env: PinEnv, name: str) -> Path:
    """A user's own workdir holding the built fee circuit (fresh for every test)."""
    folder = env.root / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(env.built / "circuits" / "fee", folder / "circuits" / "fee")
    return folder


def cli(env: PinEnv, work: Path, *args: str) -> CliResult:
    assert env.chain.node is not None
    common = ("--rpc-url", env.chain.node.rpc_url, "--private-key", DEV_PRIVATE_KEY, "--workdir", str(work))
    return run_cli(*args, *common)


def nonce(env: PinEnv) -> int:
    return int(env.chain.w3.eth.get_transaction_count(DEV_ADDRESS))


def test_a_squatter_cannot_block_restrict_or_brick_the_honest_model(pin_env: PinEnv) -> None:
    """The squatter registers our verifier first, under its own model, restricts that model
    to itself and later revokes the version. Our register, deploy and submit all work."""
    ours, theirs = workdir(pin_env, "ours"), workdir(pin_env, "theirs")
    verifier = deploy_verifier(pin_env.chain, open_circuit("fee", ours)).address
    squatter = second_account(pin_env.chain)
    registry_as_squatter = contract_at(squatter, pin_env.registry.address, pin_env.registry.abi)
    squatted = register(squatter, registry_as_squatter, open_circuit("fee", theirs), verifier=verifier)
    transact(squatter, registry_as_squatter, "setAccessRestricted", squatted.model_id, True)

    registered = cli(pin_env, ours, "register", "fee", "--registry", pin_env.registry.address, "--json")
    assert registered.code == 0, registered.stderr
    document = json.loads(registered.stdout)
    assert document["model_id"] != squatted.model_id and document["verifier"] == verifier
    deployed = cli(pin_env, ours, "deploy", "fee", "--json")
    assert deployed.code == 0, deployed.stderr
    pool_document = json.loads(deployed.stdout)
    assert pool_document["model_id"] == document["model_id"] and pool_document["verifier"] == verifier
    pool_abi = load_artifact(ours / "out" / "AdaptiveFeePool.json", "deploy")["abi"]
    pool = contract_at(pin_env.chain, pool_document["address"], pool_abi)
    assert call(pin_env.chain, pool, "modelId") == document["model_id"]

    transact(squatter, registry_as_squatter, "revokeVersion", squatted.model_id, squatted.version)
    for price in simulate_prices(WINDOW + 1, 5, "calm")[1:]:
        transact(pin_env.chain, pool, "recordPrice", price)
    submitted = cli(pin_env, ours, "submit", "fee", "--json")
    assert submitted.code == 0, submitted.stderr
    assert json.loads(submitted.stdout)["epoch"] == WINDOW


def test_deploy_pinned_to_a_registry_needs_this_build_registered_and_sends_nothing_before(pin_env: PinEnv) -> None:
    """Deploy before register: refused with the command that fixes it, before any
    transaction; so are a malformed registry address and an unknown model id."""
    fresh = workdir(pin_env, "fresh")
    before = nonce(pin_env)
    attempts = {
        ("--registry", pin_env.registry.address): "prover register fee",
        ("--registry", "0xnothex"): "0xnothex",
        ("--registry", pin_env.registry.address, "--model", "99"): "UnknownModel",
    }
    for extra, said in attempts.items():
        result = cli(pin_env, fresh, "deploy", "fee", *extra)
        assert result.code == 2, (extra, result.stderr)
        assert said in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert nonce(pin_env) == before, extra  # nothing deployed, nothing paid for


def test_deploy_then_register_then_deploy_agree_on_one_verifier(pin_env: PinEnv) -> None:
    """Without a registry the pool pins the verifier it deploys; `register` then vouches for
    that same verifier, and the next `deploy` pins the registry's version of it."""
    work = workdir(pin_env, "order")
    first = cli(pin_env, work, "deploy", "fee", "--json")
    assert first.code == 0, first.stderr
    unpinned = json.loads(first.stdout)
    assert unpinned["registry"] == "none" and unpinned["model_id"] is None
    registered = cli(pin_env, work, "register", "fee", "--registry", pin_env.registry.address, "--json")
    assert registered.code == 0, registered.stderr
    assert json.loads(registered.stdout)["verifier"] == unpinned["verifier"]
    second = cli(pin_env, work, "deploy", "fee", "--json")
    assert second.code == 0, second.stderr
    pinned = json.loads(second.stdout)
    assert (pinned["verifier"], pinned["registry"]) == (unpinned["verifier"], pin_env.registry.address)
    assert pinned["model_id"] == json.loads(registered.stdout)["model_id"]


def test_a_revoked_version_is_not_deployed_against(pin_env: PinEnv) -> None:
    """After the owner revokes the build's version, `deploy` refuses it instead of pinning a
    pool that could never update."""
    work = workdir(pin_env, "revoked")
    assert cli(pin_env, work, "register", "fee", "--registry", pin_env.registry.address).code == 0
    assert cli(pin_env, work, "revoke", "fee").code == 0
    result = cli(pin_env, work, "deploy", "fee")
    assert result.code == 2 and "no active version" in result.stderr, result.stderr
