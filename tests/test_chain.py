"""The chain layer against a real anvil: process lifetime, signing, and reverts by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from prover.errors import ChainError, TransactionReverted
from prover.evm.client import (
    Chain,
    call,
    connect,
    contract_at,
    decode_revert,
    deploy,
    estimate_gas,
    send_transaction,
    transact,
)
from prover.evm.deployments import deployments_path, load_deployments, record_deployment
from prover.evm.node import DEV_ADDRESS, DEV_CHAIN_ID, DEV_PRIVATE_KEY, AnvilNode, advance_time, anvil_binary
from prover.evm.solc import compile_sources

pytestmark = pytest.mark.chain

ROOT = Path(__file__).resolve().parents[1]
SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Store {
    uint256 public value;
    error Nope(uint256 x);
    error Never(address who, bool flag);
    constructor(uint256 start) { value = start; }
    function f(uint256 x) external { if (x > 1) revert Nope(x); value = x; }
    function needs(bool ok) external pure { require(ok, "bad thing"); }
    function div(uint256 x) external pure returns (uint256) { return 10 / x; }
    bool public used;
    error Used(uint256 atValue);
    function once() external { if (used) revert Used(value); used = true; }
}
"""


def compile_contract(source: str, name: str) -> dict[str, Any]:
    return compile_sources({f"{name}.sol": source})[name].artifact()


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped by init) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture(scope="module")
def node(session_chain: Chain) -> AnvilNode:
    """The session's anvil (what every other module uses too)."""
    assert session_chain.node is not None
    return session_chain.node


@pytest.fixture(scope="module")
def chain(module_chain: Chain) -> Chain:
    return module_chain


@pytest.fixture(scope="module")
def store_artifact() -> dict[str, Any]:
    return compile_contract(SOURCE, "Store")


@pytest.fixture
def store(chain: Chain, store_artifact: dict[str, Any]) -> Any:
    result = deploy(chain, store_artifact, 42)
    return contract_at(chain, result.address, store_artifact["abi"])


def test_node_is_up_on_loopback(node: AnvilNode) -> None:
    assert node.rpc_url.startswith("http://127.0.0.1:")
    assert node.w3.eth.chain_id == DEV_CHAIN_ID
    assert node.log_path.exists()


def test_stop_kills_the_process_group_and_is_idempotent(tmp_path: Path) -> None:
    own = AnvilNode(tmp_path / "anvil.log").start()
    pid = own.pid
    assert pid is not None and pid_alive(pid)
    own.stop()
    assert not pid_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    own.stop()
    with pytest.raises(ChainError):
        _ = own.rpc_url


def test_second_node_gets_another_port(node: AnvilNode) -> None:
    with AnvilNode() as other:
        assert other.port != node.port
        assert other.w3.eth.block_number == 0
        log = other.log_path
    assert not log.exists(), "a node's own temp log goes with it"


def test_crashing_program_leaves_no_node(tmp_path: Path) -> None:
    """atexit stops a node its program forgot, even when the program dies of an exception."""
    script = "from prover.evm.node import AnvilNode\nprint(AnvilNode().start().pid, flush=True)\n1 / 0"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert done.returncode == 1 and "ZeroDivisionError" in done.stderr
    assert not pid_alive(int(done.stdout.split()[0]))


def test_killed_program_leaves_no_node(tmp_path: Path) -> None:
    """SIGKILL runs no atexit handler: the node's guard (node_guard.py) stops it instead."""
    script = (
        "import time\nfrom prover.evm.node import AnvilNode\nprint(AnvilNode().start().pid, flush=True)\n"
        "time.sleep(120)"
    )
    program = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert program.stdout is not None
    pid = int(program.stdout.readline())
    assert pid_alive(pid)
    program.kill()
    program.wait(timeout=10)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), "anvil outlived the program that started it"


def test_binary_found_in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVER_ANVIL", raising=False)
    assert anvil_binary() == ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    monkeypatch.setenv("PROVER_ANVIL", "/nonexistent/anvil")
    with pytest.raises(ChainError, match="PROVER_ANVIL"):
        anvil_binary()


def fake_anvil(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fake-anvil"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    monkeypatch.setenv("PROVER_ANVIL", str(script))


def test_binary_that_exits_fails_fast_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_anvil(tmp_path, "echo 'boom: no chain today'\nexit 3", monkeypatch)
    started = time.monotonic()
    with pytest.raises(ChainError, match=r"code 3.*boom") as info:
        AnvilNode(tmp_path / "anvil.log").start()
    assert time.monotonic() - started < 5
    assert str(tmp_path / "anvil.log") in info.value.hint


def test_node_that_never_answers_times_out_and_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline holds, and the whole group goes: the script's own child too."""
    child_pid = tmp_path / "child.pid"
    fake_anvil(tmp_path, f"sleep 60 &\necho $! > {child_pid}\nwait", monkeypatch)
    with pytest.raises(ChainError, match="not ready"):
        AnvilNode(tmp_path / "anvil.log", startup_timeout=1.0).start()
    assert not pid_alive(int(child_pid.read_text()))


def test_connect_embedded_node(tmp_path: Path) -> None:
    with connect(None, None, tmp_path) as embedded:
        assert embedded.chain_id == DEV_CHAIN_ID and embedded.address == DEV_ADDRESS
        assert embedded.node is not None
        pid = embedded.node.pid
        assert embedded.w3.eth.get_balance(DEV_ADDRESS) > 0
    assert (tmp_path / "anvil.log").exists()
    assert pid is not None and not pid_alive(pid)


def test_connect_external_without_key_reads_and_refuses_to_sign(
    node: AnvilNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROVER_PRIVATE_KEY", raising=False)
    with connect(node.rpc_url, None) as reader:
        assert reader.account is None and reader.w3.eth.block_number >= 0
        with pytest.raises(ChainError, match="no signing key") as info:
            send_transaction(reader, "transfer", [], {"to": DEV_ADDRESS, "value": 1})
        assert "--account NAME" in (info.value.hint or "")
    monkeypatch.setenv("PROVER_PRIVATE_KEY", DEV_PRIVATE_KEY)
    with connect(node.rpc_url) as external:
        assert external.chain_id == DEV_CHAIN_ID and external.node is None
    with pytest.raises(ChainError, match="invalid private key"), connect(node.rpc_url, "0x1234"):
        pass


def test_connect_unreachable_node(tmp_path: Path) -> None:
    with AnvilNode() as gone:
        url = gone.rpc_url
    with pytest.raises(ChainError, match="cannot reach") as info, connect(url, DEV_PRIVATE_KEY):
        pass
    assert "--rpc-url" in info.value.hint


def test_deploy_transact_and_call(chain: Chain, store_artifact: dict[str, Any]) -> None:
    result = deploy(chain, store_artifact, 7)
    assert result.gas_used > 21000 and result.tx_hash.startswith("0x")
    store = contract_at(chain, result.address, store_artifact["abi"])
    assert call(chain, store, "value") == 7
    assert estimate_gas(chain, store, "f", 1) > 21000
    receipt = transact(chain, store, "f", 1)
    assert receipt["status"] == 1
    assert call(chain, store, "value") == 1


def test_custom_error_is_decoded_by_name(chain: Chain, store: Any) -> None:
    with pytest.raises(TransactionReverted) as info:
        transact(chain, store, "f", 5)
    assert info.value.error_name == "Nope" and info.value.error_args == (5,)
    assert "f reverted: Nope(5)" in info.value.message
    assert call(chain, store, "value") == 42
    with pytest.raises(TransactionReverted, match=r"Nope\(9\)"):
        estimate_gas(chain, store, "f", 9)


def test_require_and_panic_are_decoded(chain: Chain, store: Any) -> None:
    with pytest.raises(TransactionReverted) as info:
        call(chain, store, "needs", False)
    assert (info.value.error_name, info.value.error_args) == ("Error", ("bad thing",))
    with pytest.raises(TransactionReverted) as info:
        call(chain, store, "div", 0)
    assert (info.value.error_name, info.value.error_args) == ("Panic", (0x12,))


def test_unknown_revert_data_is_kept_raw(store_artifact: dict[str, Any]) -> None:
    data = bytes.fromhex("deadbeef") + (1).to_bytes(32, "big")
    assert decode_revert(data, store_artifact["abi"]) == (None, ())
    assert decode_revert(b"", store_artifact["abi"]) == (None, ())
    error = TransactionReverted("f", None, (), data)
    assert "0xdeadbeef" in error.message


def test_revert_at_mining_is_decoded(store_artifact: dict[str, Any], tmp_path: Path) -> None:
    """Two `once()` estimated before either is mined: the second reverts in the block."""
    with connect(None, None, tmp_path) as own:
        store = contract_at(own, deploy(own, store_artifact, 3).address, store_artifact["abi"])
        own.w3.provider.make_request("anvil_setAutomine", [False])  # type: ignore[arg-type]
        outcomes: dict[int, Any] = {}

        def send(slot: int) -> None:
            try:
                outcomes[slot] = transact(own, store, "once")["status"]
            except TransactionReverted as exc:
                outcomes[slot] = exc

        threads = []
        for slot in (1, 2):
            threads.append(threading.Thread(target=send, args=(slot,)))
            threads[-1].start()
            deadline = time.monotonic() + 10
            while own.w3.eth.get_transaction_count(own.address, "pending") < 1 + slot:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        own.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        for thread in threads:
            thread.join(10)
    assert outcomes[1] == 1
    assert isinstance(outcomes[2], TransactionReverted)
    assert (outcomes[2].error_name, outcomes[2].error_args) == ("Used", (3,))


def test_deployment_records_merge_by_name(tmp_path: Path) -> None:
    assert load_deployments(tmp_path, 31337) == {}
    record_deployment(tmp_path, 31337, "Verifier", {"address": "0x01"})
    record_deployment(tmp_path, 31337, "Pool", {"address": "0x02"})
    record_deployment(tmp_path, 31337, "Verifier", {"address": "0x03"})
    assert load_deployments(tmp_path, 31337) == {"Verifier": {"address": "0x03"}, "Pool": {"address": "0x02"}}
    assert load_deployments(tmp_path, 1) == {}
    path = deployments_path(tmp_path, 31337)
    assert path == tmp_path / "deployments" / "31337.json"
    assert json.loads(path.read_text())["chainId"] == 31337
    path.write_text("{not json")
    assert load_deployments(tmp_path, 31337) == {}, "a dev chain's damaged record is no record"
    record_deployment(tmp_path, 1, "Verifier", {"address": "0x01"})
    deployments_path(tmp_path, 1).write_text("{not json")
    with pytest.raises(ChainError, match="is not valid JSON"):
        load_deployments(tmp_path, 1)
    deployments_path(tmp_path, 1).write_text('{"contracts": []}')
    with pytest.raises(ChainError, match="unreadable"):
        load_deployments(tmp_path, 1)


def test_advance_time_moves_block_timestamp(node: AnvilNode) -> None:
    before = node.w3.eth.get_block("latest")
    after = advance_time(node.w3, 3600)
    assert after >= before["timestamp"] + 3600
    assert node.w3.eth.block_number == before["number"] + 1
