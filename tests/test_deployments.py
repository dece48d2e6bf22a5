"""Deployment records belong to one chain instance (issue 13, item 10).

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
        record_contract(first, tmp_path, "store", deploy(first, store))
        first_instance = chain_instance(first)
        assert trusted(first, tmp_path, "store") is not None
        with _fresh_chain(first, tmp_path / "second") as second:
            assert deploy(second, store).address == first_address  # same address, same code
            again = deploy(second, store)
            assert chain_instance(second) != first_instance
            assert trusted(second, tmp_path, "store") is None, "a dead chain's record was trusted"
            assert load_deployments(tmp_path, second) == {}
            record_contract(second, tmp_path, "other", again)  # replaces the other instance's records
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
        record_contract(chain, tmp_path, "store", deploy(chain, store))
        assert set(load_deployments(tmp_path, chain)) == {"store"}


def test_unstamped_records_of_a_real_chain_are_kept_of_a_dev_chain_not(tmp_path: Path, store: dict[str, Any]) -> None:
    """A file from before the stamp: a dev chain's may be any instance, so it is dropped; on
    any other chain id (the same public chain for ever) it is adopted and stamped."""
    with connect(None, log_dir=tmp_path) as chain:
        entry = record_contract(chain, tmp_path, "store", deploy(chain, store))
        path = deployments_path(tmp_path, chain.chain_id)
        path.write_text(json.dumps({"chainId": chain.chain_id, "contracts": {"store": entry}}))
        assert trusted(chain, tmp_path, "store") is None
    with AnvilNode(tmp_path / "anvil.log", chain_id=4242) as node, connect(node.rpc_url, DEV_PRIVATE_KEY) as real:
        entry = record_contract(real, tmp_path, "store", deploy(real, store))
        path = deployments_path(tmp_path, 4242)
        path.write_text(json.dumps({"chainId": 4242, "contracts": {"store": entry}}))
        assert trusted(real, tmp_path, "store") == entry
        record_contract(real, tmp_path, "again", deploy(real, store))
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
