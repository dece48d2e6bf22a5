"""`prover node`: a port, chain id and block time of the user's choice; every dev account it
funds, printed and funded; a clean stop on SIGINT, SIGTERM and SIGHUP, in the background too.

Each node here is a real `prover node` process on a free port (never 8545: others' nodes
may hold it), started with a fault tag (faults.py) so "no anvil left behind" means no
process of it survives.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import run_cli
from faults import (
    PROVER,
    TAG,
    Tagged,
    conventional_exit,
    pid_alive,
    record_outcome,
    start_tagged,
    tagged,
    wait_until,
)
from web3 import Web3

from prover.evm.node import ANVIL_MNEMONIC, DEV_ADDRESS, DEV_CHAIN_ID, AnvilNode, anvil_binary, is_dev_chain

pytestmark = pytest.mark.chain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_node(tmp_path: Path, *args: str) -> tuple[Tagged, Path]:
    """`prover node ARGS`, tagged, its stdout kept in a file; waits until it says it is ready."""
    tag, out, errors = uuid.uuid4().hex, tmp_path / "stdout", tmp_path / "stderr"
    env = {**os.environ, TAG: tag, "COLUMNS": "200", "NO_COLOR": "1"}
    with open(out, "wb") as sink, open(errors, "wb") as error_sink:
        process = subprocess.Popen(
            [str(PROVER), "node", "--workdir", str(tmp_path), *args], stdout=sink, stderr=error_sink, env=env
        )
    node = Tagged(process, tag, errors)
    ready = wait_until(lambda: "stops the node" in errors.read_text() or process.poll() is not None, 60)
    if not ready or process.poll() is not None:
        node.stop()
        pytest.fail(errors.read_text())
    return node, out


def anvil_pids(node: Tagged) -> list[int]:
    return [pid for pid, command in node.descendants().items() if command.startswith(str(anvil_binary()))]


def test_node_on_a_chosen_port_and_chain_id_prints_every_funded_account(tmp_path: Path) -> None:
    """Port, chain id and block time as asked; every account printed is one the node funds,
    with the key that signs for it; the human output carries the same accounts."""
    port = free_port()
    node, out = start_node(tmp_path, "--port", str(port), "--chain-id", "4242", "--block-time", "1", "--json")
    try:
        document = json.loads(out.read_text())
        assert document["rpc_url"] == f"http://127.0.0.1:{port}" and document["port"] == port
        assert document["chain_id"] == 4242 and document["block_time"] == 1
        assert document["client"].startswith("anvil/") and document["mnemonic"] == ANVIL_MNEMONIC
        w3 = Web3(Web3.HTTPProvider(document["rpc_url"]))
        assert w3.eth.chain_id == 4242
        accounts = document["accounts"]
        assert len(accounts) == 10 and accounts[0]["address"] == DEV_ADDRESS
        assert [a["address"].lower() for a in accounts] == [a.lower() for a in w3.eth.accounts]
        for account in accounts:
            assert w3.eth.account.from_key(account["private_key"]).address == account["address"]
            assert w3.eth.get_balance(account["address"]) == account["balance_wei"] > 10**21
        first = w3.eth.block_number
        assert wait_until(lambda: w3.eth.block_number > first, 5), "--block-time 1 mines without transactions"
        assert is_dev_chain(w3, 4242), "anvil with any chain id is a dev chain"
    finally:
        node.stop()


def test_node_prints_accounts_and_url_on_stdout(tmp_path: Path) -> None:
    """Without --json: the URL, chain id and each account with its key, on stdout (progress on stderr)."""
    port = free_port()
    node, out = start_node(tmp_path, "--port", str(port))
    try:
        text = out.read_text()
        assert f"http://127.0.0.1:{port}" in text and f"chain id  {DEV_CHAIN_ID}" in text
        assert "automine" in text
        lines = [line for line in text.splitlines() if line.startswith("(")]
        assert len(lines) == 10
        index, address, balance, unit, key = lines[1].split()
        assert (index, balance, unit) == ("(1)", "10000", "ETH")
        assert Web3().eth.account.from_key(key).address == address
        assert "Traceback" not in node.stderr.read_text()
    finally:
        node.stop()


def test_busy_port_is_one_error_naming_port(tmp_path: Path) -> None:
    """A port something listens on is refused before anvil starts, naming --port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("node", "--port", port, "--workdir", tmp_path, timeout=60)
    assert result.code == 2, result.stderr
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 2


def test_busy_port_of_another_node_is_refused_not_shared(tmp_path: Path) -> None:
    """Another anvil on the port, with the same chain id, must not pass for ours."""
    with AnvilNode(tmp_path / "other.log") as other:
        result = run_cli("node", "--port", other.port, "--workdir", tmp_path, timeout=60)
        assert other.w3.eth.block_number == 0
    assert result.code == 2 and "in use" in result.stderr, result.stderr


def test_default_port_is_anvils() -> None:
    result = run_cli("node", "--help")
    assert result.code == 0 and "8545" in result.stdout, result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_node_stops_with_its_anvil_on_each_signal(tmp_path: Path, signum: int) -> None:
    """Exit 130 / 143 / 129, and the anvil process it ran is gone."""
    node, _ = start_node(tmp_path, "--port", str(free_port()))
    try:
        pids = anvil_pids(node)
        assert len(pids) == 1, node.descendants()
        code = node.send(signum)
        left = node.left_behind()
        record_outcome(f"prover node --port: {signal.Signals(signum).name}", left, [])
        assert code == conventional_exit(signum), node.stderr.read_text()
        assert left == {}
        assert not pid_alive(pids[0])
        assert "Traceback" not in node.stderr.read_text()
    finally:
        node.stop()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_background_node_of_a_script_stops_on_each_signal(tmp_path: Path, signum: int) -> None:
    """`prover node &` in a non-interactive shell starts with SIGINT ignored (POSIX, for
    background jobs without job control); an explicit SIGINT still stops it, like SIGTERM
    and SIGHUP, with the shell's exit code, and its anvil goes with it."""
    pid_file, code_file = tmp_path / "node.pid", tmp_path / "node.code"
    script = (
        f'"{PROVER}" node --port {free_port()} --workdir "{tmp_path}" >/dev/null 2>"{tmp_path}/stderr" &\n'
        f'echo $! > "{pid_file}"\nwait $!\necho $? > "{code_file}"\n'
    )
    shell = start_tagged(["sh", "-c", script], tmp_path / "shell.stderr")
    try:
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 30)
        pid = int(pid_file.read_text())
        stderr = tmp_path / "stderr"
        assert wait_until(lambda: stderr.exists() and "stops the node" in stderr.read_text(), 60), stderr.read_text()
        status = Path(f"/proc/{pid}/status").read_text()
        if signum == signal.SIGINT:  # the shell did ignore it for its background job; we took it back
            caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
            assert caught & (1 << (signal.SIGINT - 1))
        anvils = [p for p, command in tagged(shell.tag).items() if command.startswith(str(anvil_binary()))]
        assert len(anvils) == 1
        os.kill(pid, signum)
        assert shell.process.wait(timeout=60) == 0
        left = shell.left_behind()
        record_outcome(f"prover node & (script): {signal.Signals(signum).name}", left, [])
        assert int(code_file.read_text()) == conventional_exit(signum), stderr.read_text()
        assert left == {}
    finally:
        shell.stop()


def test_signal_during_startup_leaves_no_anvil(tmp_path: Path) -> None:
    """A SIGTERM right after the start, before the node is ready, still takes anvil with it."""
    program = start_tagged([PROVER, "node", "--port", str(free_port()), "--workdir", tmp_path], tmp_path / "stderr")
    try:
        assert wait_until(lambda: program.has(str(anvil_binary())), 60)
        time.sleep(0.05)
        program.send(signal.SIGTERM)
        assert program.left_behind() == {}
    finally:
        program.stop()
