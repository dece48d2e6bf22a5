"""Deployment records belong to one chain instance (issue 13, item 10), and say what the
ecosystem's say (issue 14): a record carries what Foundry's broadcast files and
hardhat-deploy's deployments carry, its ABI is written beside it, and `prover deployments`
lists the records and tells live ones from stale ones.

A restarted dev chain hands out the same addresses, and a deterministic run puts the same
code there: only the chain's genesis block tells the runs apart. Records of another
instance are ignored and replaced on the next write, never trusted.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from eth_abi.abi import encode as abi_encode
from web3 import Web3

from prover.consumers.fee import FeeConsumer
from prover.evm import deployments
from prover.evm.client import Chain, connect, deploy
from prover.evm.deployments import (
    chain_instance,
    deployments_path,
    load_deployments,
    record_contract,
    record_deployment,
    trusted,
)
from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode
from prover.evm.solc import compile_sources
from prover.progress import SilentReporter

pytestmark = pytest.mark.chain

STORE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Store { uint256 public value = 7; }
"""
BOX = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Box {
    struct Limits { uint64 low; int32 high; }
    address public owner;
    constructor(
        address owner_, uint256 size, bytes32 tag, string memory label, int16[] memory steps, Limits memory limits
    ) {
        owner = owner_;
        require(size > 0 && tag != 0 && bytes(label).length > 0 && steps.length > 0 && limits.low < 10);
    }
}
"""
BOX_TYPES = ["address", "uint256", "bytes32", "string", "int16[]", "(uint64,int32)"]


@pytest.fixture(scope="module")
def store() -> dict[str, Any]:
    return compile_sources({"Store.sol": STORE})["Store"].artifact()


def _fresh_chain(after: Chain | None, log_dir: Path) -> Any:
    """An embedded chain; a second one is started in a later second than `after`'s genesis
    (anvil's genesis hash is a function of its start second)."""
    if after is not None:
        genesis_time = int(after.w3.eth.get_block(0)["timestamp"])
        while time.time() < genesis_time + 1.05:
            time.sleep(0.05)
    return connect(None, log_dir=log_dir)


def test_records_of_a_restarted_dev_chain_are_never_trusted(tmp_path: Path, store: dict[str, Any]) -> None:
    with _fresh_chain(None, tmp_path) as first:
        first_address = deploy(first, store).address
        record_contract(first, tmp_path, "store", deploy(first, store), store)
        first_instance = chain_instance(first)
        assert trusted(first, tmp_path, "store") is not None
        with _fresh_chain(first, tmp_path / "second") as second:
            assert deploy(second, store).address == first_address  # same address, same code
            again = deploy(second, store)
            assert chain_instance(second) != first_instance
            assert trusted(second, tmp_path, "store") is None, "a dead chain's record was trusted"
            assert load_deployments(tmp_path, second) == {}
            record_contract(second, tmp_path, "other", again, store)  # replaces the other instance's records
            assert set(load_deployments(tmp_path, second)) == {"other"}
            assert trusted(second, tmp_path, "other") is not None
        assert load_deployments(tmp_path, first) == {}, "and the first chain no longer sees the second's"
    written = json.loads(deployments_path(tmp_path, 31337).read_text())
    assert written["genesis"] == chain_instance(second)


def test_bare_chain_ids_still_read_and_write(tmp_path: Path) -> None:
    """Older callers pass `chain.chain_id`: they keep working, and keep the file's stamp."""
    record_deployment(tmp_path, 5, "a", {"address": "0x" + "11" * 20})
    assert load_deployments(tmp_path, 5) == {"a": {"address": "0x" + "11" * 20}}
    path = deployments_path(tmp_path, 5)
    stamped = {**json.loads(path.read_text()), "genesis": "0xabc"}
    path.write_text(json.dumps(stamped))
    record_deployment(tmp_path, 5, "b", {"address": "0x" + "22" * 20})
    assert json.loads(path.read_text())["genesis"] == "0xabc"
    assert set(load_deployments(tmp_path, 5)) == {"a", "b"}


def test_damaged_records_of_a_dev_chain_are_replaced(tmp_path: Path, store: dict[str, Any]) -> None:
    """Whatever instance a damaged dev-chain file described is gone: no error, a fresh file."""
    path = deployments_path(tmp_path, 31337)
    path.parent.mkdir(parents=True)
    path.write_text('{"chainId": 31337, "contracts": [')
    with connect(None, log_dir=tmp_path) as chain:
        assert load_deployments(tmp_path, chain) == {} and trusted(chain, tmp_path, "store") is None
        record_contract(chain, tmp_path, "store", deploy(chain, store), store)
        assert set(load_deployments(tmp_path, chain)) == {"store"}


def test_unstamped_records_of_a_real_chain_are_kept_of_a_dev_chain_not(tmp_path: Path, store: dict[str, Any]) -> None:
    """A file from before the stamp: a dev chain's may be any instance, so it is dropped; on
    any other chain id (the same public chain for ever) it is adopted and stamped."""
    with connect(None, log_dir=tmp_path) as chain:
        entry = record_contract(chain, tmp_path, "store", deploy(chain, store), store)
        path = deployments_path(tmp_path, chain.chain_id)
        path.write_text(json.dumps({"chainId": chain.chain_id, "contracts": {"store": entry}}))
        assert trusted(chain, tmp_path, "store") is None
    with AnvilNode(tmp_path / "anvil.log", chain_id=4242) as node, connect(node.rpc_url, DEV_PRIVATE_KEY) as real:
        entry = record_contract(real, tmp_path, "store", deploy(real, store), store)
        path = deployments_path(tmp_path, 4242)
        path.write_text(json.dumps({"chainId": 4242, "contracts": {"store": entry}}))
        assert trusted(real, tmp_path, "store") == entry
        record_contract(real, tmp_path, "again", deploy(real, store), store)
        assert json.loads(path.read_text())["genesis"] == chain_instance(real)
        assert set(load_deployments(tmp_path, real)) == {"store", "again"}


def test_second_demo_never_reads_the_first_ones_records(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two embedded chains one after the other in one workdir: the second run works, and
    no record any module reads during it is one the first run wrote (each is marked, as the
    records of the two runs are otherwise identical: same addresses, code, nonces, hashes)."""
    shutil.copytree(built / "circuits" / "fee", tmp_path / "circuits" / "fee")
    FeeConsumer().demo(tmp_path, SilentReporter())
    path = deployments_path(tmp_path, 31337)
    first = json.loads(path.read_text())
    first["contracts"] = {name: {**entry, "first_run": True} for name, entry in first["contracts"].items()}
    path.write_text(json.dumps(first))

    read: list[dict[str, Any]] = []
    original = deployments.load_deployments

    def spy(workdir: Path, chain: Chain | int) -> dict[str, Any]:
        records = original(workdir, chain)
        read.extend(records.values())
        return records

    for module in list(sys.modules.values()):  # every module that imported it by name
        if getattr(module, "load_deployments", None) is original:
            monkeypatch.setattr(module, "load_deployments", spy)
    time.sleep(1.05)  # a genesis in a later second than the first run's
    report = FeeConsumer().demo(tmp_path, SilentReporter())
    assert len(report.document["updates"]) == 2
    assert read, "the second run read no records at all"
    assert not [entry for entry in read if entry.get("first_run")], "the second run read the first one's records"
    second = json.loads(path.read_text())
    assert second["genesis"] != first["genesis"]
    assert not [entry for entry in second["contracts"].values() if entry.get("first_run")]


def test_a_record_carries_what_broadcast_files_carry(tmp_path: Path) -> None:
    """Address, transaction, block, deployer, constructor arguments as sent and decoded, code
    hash, the compiler the artifact names, contract, gas, and an ABI file that parses to
    the contract's ABI."""
    compiled = compile_sources({"Box.sol": BOX})["Box"]
    artifact = compiled.artifact()
    owner = Web3.to_checksum_address("0x" + "ab" * 20)
    args = [owner, 2**200 + 1, b"\x01" * 32, "fee pool", [-3, 0, 7], (9, -5)]
    with connect(None, log_dir=tmp_path) as chain:
        deployed = deploy(chain, artifact, *args)
        entry = record_contract(chain, tmp_path, "box", deployed, artifact, note="mine")
        receipt = chain.w3.eth.get_transaction_receipt(deployed.tx_hash)  # type: ignore[arg-type]
        code = chain.w3.eth.get_code(deployed.address)  # type: ignore[arg-type]
        assert trusted(chain, tmp_path, "box") == entry
        on_disk = load_deployments(tmp_path, chain)["box"]
    assert on_disk == entry
    assert entry["address"] == deployed.address and entry["tx_hash"] == deployed.tx_hash
    assert entry["block_number"] == receipt["blockNumber"] and entry["gas_used"] == receipt["gasUsed"]
    assert entry["deployer"] == chain.address
    assert entry["contract"] == "Box" and entry["note"] == "mine"
    assert entry["compiler"] == compiled.solc_version and entry["compiler"].startswith("0.8.")
    assert entry["code_hash"] == Web3.keccak(code).to_0x_hex()
    assert entry["constructor_args"] == "0x" + abi_encode(BOX_TYPES, args).hex()
    assert entry["constructor_args_decoded"] == [
        Web3.to_checksum_address(owner),
        str(2**200 + 1),
        "0x" + "01" * 32,
        "fee pool",
        ["-3", "0", "7"],
        ["9", "-5"],
    ]
    abi_file = deployments_path(tmp_path, 31337).parent / entry["abi"]
    assert entry["abi"] == "31337/abi/box.json" and abi_file == tmp_path / "deployments" / "31337" / "abi" / "box.json"
    assert json.loads(abi_file.read_text()) == compiled.abi
    assert not [path for path in abi_file.parent.iterdir() if path.name != "box.json"], "a temp file was left"


def _set_code(chain: Chain, address: str, code: str) -> None:
    chain.w3.provider.make_request("anvil_setCode", [address, code])  # type: ignore[arg-type]


def _listed(work: Path, *args: str | Path) -> Any:
    """`prover deployments` as a user runs it, with no signing key anywhere."""
    result = run_cli("deployments", "--workdir", work, *args, env={"PROVER_PRIVATE_KEY": "", "PROVER_RPC_URL": ""})
    assert result.code == 0, result.stderr
    return result


def test_deployments_command_lists_records_and_marks_stale_ones(tmp_path: Path, store: dict[str, Any]) -> None:
    """Every chain's records without a node; with --rpc-url that chain's only, live while
    the code is the recorded code on the recorded chain instance, stale after the code
    changed or the chain restarted."""
    work = tmp_path / "work"
    record_deployment(work, 5, "elsewhere", {"address": "0x" + "22" * 20})
    with AnvilNode(tmp_path / "anvil.log") as node, connect(node.rpc_url, DEV_PRIVATE_KEY) as chain:
        kept = record_contract(chain, work, "store", deploy(chain, store), store)
        changed = record_contract(chain, work, "changed", deploy(chain, store), store)
        table = _listed(work).stdout
        assert "31337" in table and "store" in table and kept["address"] in table and "Store" in table
        assert "elsewhere" in table and "status" not in table, table
        rows = json.loads(_listed(work, "--json").stdout)
        assert {(row["chain_id"], row["name"]) for row in rows} == {
            (5, "elsewhere"),
            (31337, "store"),
            (31337, "changed"),
        }
        assert all("status" not in row for row in rows)
        store_row = next(row for row in rows if row["name"] == "store")
        assert {key: store_row[key] for key in kept} == kept and store_row["kind"] == "contract"

        _set_code(chain, changed["address"], "0x6001600055")
        checked = json.loads(_listed(work, "--rpc-url", node.rpc_url, "--json").stdout)
        assert {row["name"]: row["status"] for row in checked} == {"store": "live", "changed": "stale"}
        lines = _listed(work, "--rpc-url", node.rpc_url).stdout.splitlines()
        assert lines[0].split() == ["chain", "name", "contract", "address", "block", "gas", "compiler", "status"]
        assert [line.split()[-1] for line in lines[1:]] == ["stale", "live"], lines
        genesis = int(chain.w3.eth.get_block(0)["timestamp"])
    while time.time() < genesis + 1.05:  # a genesis in a later second: another instance
        time.sleep(0.05)
    with AnvilNode(tmp_path / "anvil2.log") as restarted, connect(restarted.rpc_url, DEV_PRIVATE_KEY) as again:
        deploy(again, store), deploy(again, store)  # the same code at the same addresses
        checked = json.loads(_listed(work, "--rpc-url", restarted.rpc_url, "--json").stdout)
        assert {row["name"]: row["status"] for row in checked} == {"store": "stale", "changed": "stale"}
