"""One model registry per chain (issue 14): every workdir on a chain finds the registry the
first one deployed, recorded for the user in `$PROVER_HOME/registries/<chainId>.json`.

Each test runs its own anvil, as `prover node` would, and its own $PROVER_HOME. A record
is reused only on the chain instance it was made on and while the code recorded is still
at its address; `--registry` overrides it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, run_cli

from prover.errors import ChainError
from prover.evm.client import Chain, connect, deploy
from prover.evm.deployments import chain_instance, deployments_path, load_deployments
from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode
from prover.evm.solc import compile_project_contracts
from prover.registry.contract import open_registry
from prover.registry.home import chain_registries_path

pytestmark = pytest.mark.chain

#: what every record of a deployed contract carries (issue 14)
RECORD_FIELDS = {
    "address",
    "contract",
    "tx_hash",
    "block_number",
    "deployer",
    "constructor_args",
    "constructor_args_decoded",
    "code_hash",
    "compiler",
    "abi",
    "gas_used",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's $PROVER_HOME, for library calls here and the CLI runs it starts."""
    folder = tmp_path / "home"
    monkeypatch.setenv("PROVER_HOME", str(folder))
    return folder


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    """A chain that outlives the commands run against it, as `prover node` keeps one."""
    with AnvilNode(tmp_path / "anvil.log") as running:
        yield running


@pytest.fixture
def chain(node: AnvilNode) -> Iterator[Chain]:
    with connect(node.rpc_url, DEV_PRIVATE_KEY) as connected:
        yield connected


def workdir(built: Path, root: Path, name: str) -> Path:
    folder = root / name
    shutil.copytree(built / "circuits" / "fee", folder / "circuits" / "fee")
    return folder


def cli(node: AnvilNode, work: Path, *args: str) -> CliResult:
    common = ("--rpc-url", node.rpc_url, "--private-key", DEV_PRIVATE_KEY, "--workdir", str(work))
    return run_cli(*args, *common)


def registered(node: AnvilNode, work: Path, *args: str) -> dict[str, Any]:
    result = cli(node, work, "register", "fee", "--json", *args)
    assert result.code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def chain_record(chain_id: int = 31337) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(chain_registries_path(chain_id).read_text())
    return document


def records(work: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(deployments_path(work, 31337).read_text())
    return document["contracts"]


def assert_complete(work: Path, entry: dict[str, Any], contract: str) -> None:
    """Every field, and an ABI file beside the records that is the contract's ABI."""
    assert set(entry) >= RECORD_FIELDS, RECORD_FIELDS - set(entry)
    assert entry["contract"] == contract and entry["compiler"] and entry["block_number"] > 0
    abi = json.loads((work / "deployments" / entry["abi"]).read_text())
    built = work / "out" / f"{contract}.json"
    if built.exists():  # the project's contracts (a verifier's artifact lives in out/NAME/)
        assert abi == json.loads(built.read_text())["abi"]
    assert any(item.get("type") == "function" for item in abi)


def test_two_workdirs_on_one_chain_register_into_one_registry(
    built: Path, tmp_path: Path, home: Path, node: AnvilNode, chain: Chain
) -> None:
    """The second workdir finds the first one's registry and adds its model there; its
    consumer is pinned to that registry; every contract deployed on the way is recorded
    in full, and `prover deployments` finds them all live."""
    first, second = workdir(built, tmp_path, "first"), workdir(built, tmp_path, "second")
    one = registered(node, first)
    two = registered(node, second)
    assert two["registry"] == one["registry"] and (one["model_id"], two["model_id"]) == (1, 2)

    shared = chain_record()
    assert shared["genesis"] == chain_instance(chain)
    deployed = shared["contracts"]["ModelRegistry"]
    assert deployed["address"] == one["registry"] and "abi" not in deployed
    theirs, ours = records(first)["ModelRegistry"], records(second)["ModelRegistry"]
    assert_complete(first, theirs, "ModelRegistry")
    assert_complete(second, ours, "ModelRegistry")
    assert ours["tx_hash"] == theirs["tx_hash"] == deployed["tx_hash"], "one registry was deployed"
    assert records(second)["fee.model"]["registry"] == one["registry"]

    result = cli(node, second, "deploy", "fee", "--json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["registry"], document["model_id"]) == (one["registry"], 2)
    consumer, verifier = records(second)["fee.consumer"], records(second)["fee.verifier"]
    assert_complete(second, consumer, "AdaptiveFeePool")
    assert_complete(second, verifier, "Halo2Verifier")
    assert consumer["constructor_args_decoded"][:3] == [document["verifier"], one["registry"], "2"]
    assert consumer["constructor_args_decoded"][-1] == consumer["deployer"]
    assert verifier["constructor_args"] == "0x" and verifier["constructor_args_decoded"] == []

    listed = run_cli("deployments", "--rpc-url", node.rpc_url, "--json", "--workdir", second)
    assert listed.code == 0, listed.stderr
    status = {row["name"]: row["status"] for row in json.loads(listed.stdout)}
    assert status == dict.fromkeys(("ModelRegistry", "fee.consumer", "fee.model", "fee.verifier"), "live")


def test_registry_option_overrides_the_chain_s_registry(
    built: Path, tmp_path: Path, home: Path, node: AnvilNode, chain: Chain
) -> None:
    """--registry ADDRESS registers there, and the chain's recorded registry stays the default."""
    shared = open_registry(chain, tmp_path / "deployer", deploy_if_missing=True).address
    other = deploy(chain, compile_project_contracts(tmp_path / "out")["ModelRegistry"].artifact()).address
    work = workdir(built, tmp_path, "mine")
    assert registered(node, work, "--registry", other)["registry"] == other
    assert records(work)["fee.model"]["registry"] == other
    assert chain_record()["contracts"]["ModelRegistry"]["address"] == shared
    fresh = workdir(built, tmp_path, "fresh")
    assert registered(node, fresh)["registry"] == shared


def test_a_registry_whose_code_is_gone_is_not_reused(tmp_path: Path, home: Path, chain: Chain) -> None:
    """Another contract's code at the recorded address (what a reverted or reset node leaves):
    no registry is found there, and the next deployment records a new one for everyone."""
    first = open_registry(chain, tmp_path / "a", deploy_if_missing=True).address
    assert open_registry(chain, tmp_path / "b").address == first, "another workdir finds the chain's registry"
    chain.w3.provider.make_request("anvil_setCode", [first, "0x6001600055"])  # type: ignore[arg-type]
    with pytest.raises(ChainError, match="no model registry recorded"):
        open_registry(chain, tmp_path / "c")
    second = open_registry(chain, tmp_path / "c", deploy_if_missing=True).address
    assert second != first
    assert chain_record()["contracts"]["ModelRegistry"]["address"] == second
    assert open_registry(chain, tmp_path / "a").address == second, "the first workdir's own record is stale too"


def test_a_restarted_chain_s_registry_is_not_reused(tmp_path: Path, home: Path) -> None:
    """A restarted dev chain, with a registry's code at the very address recorded (same
    deployer, same nonce): the record names another instance, so it is not used."""
    artifact = compile_project_contracts(tmp_path / "out")["ModelRegistry"].artifact()
    with AnvilNode(tmp_path / "one.log") as one, connect(one.rpc_url, DEV_PRIVATE_KEY) as before:
        recorded = open_registry(before, tmp_path / "a", deploy_if_missing=True).address
        genesis = int(before.w3.eth.get_block(0)["timestamp"])
    while time.time() < genesis + 1.05:  # anvil's genesis hash changes with its start second
        time.sleep(0.05)
    with AnvilNode(tmp_path / "two.log") as two, connect(two.rpc_url, DEV_PRIVATE_KEY) as after:
        assert deploy(after, artifact).address == recorded  # the same code at the same address
        with pytest.raises(ChainError, match="no model registry recorded"):
            open_registry(after, tmp_path / "b")
        fresh = open_registry(after, tmp_path / "b", deploy_if_missing=True).address
        assert fresh != recorded
        assert chain_record()["genesis"] == chain_instance(after)
        assert load_deployments(tmp_path / "a", after) == {}, "the first workdir's records are another instance's"


def test_an_embedded_chain_s_registry_is_never_recorded_for_the_user(tmp_path: Path, home: Path) -> None:
    """A chain this process started dies with it: its registry could only mislead later commands."""
    with connect(None, log_dir=tmp_path) as embedded:
        open_registry(embedded, tmp_path / "w", deploy_if_missing=True)
    assert not chain_registries_path(31337).exists()
