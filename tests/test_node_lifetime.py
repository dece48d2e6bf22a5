"""An embedded anvil never outlives the program that started it (issue 13, item 11).

Each test runs a real program (a small Python script, or the `prover` CLI), hits it with a
real signal and then looks for any process still carrying the program's tag (faults.py):
anvil itself, whatever started it, anything in its process group.
"""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path

import pytest
from faults import PROVER, Tagged, conventional_exit, python_program, record_outcome, start_tagged, wait_until

from prover.evm.node import anvil_binary

pytestmark = pytest.mark.chain

START = """
import json, sys, threading, time
from prover.evm.node import AnvilNode
def start():
    global node
    node = AnvilNode().start()
{how}
with open({ready!r}, "w") as out:
    json.dump({{"port": node.port, "pid": node.pid, "log": str(node.log_path)}}, out)
time.sleep(300)
"""
IN_MAIN = "start()"
#: a helper thread starts the node and ends: the node belongs to the program, not the thread
IN_THREAD = "helper = threading.Thread(target=start)\nhelper.start()\nhelper.join()\ntime.sleep(1.5)"


def _program(tmp_path: Path, how: str, env: dict[str, str] | None = None) -> tuple[Tagged, dict[str, object]]:
    ready = tmp_path / "ready.json"
    program = start_tagged(python_program(START.format(how=how, ready=str(ready))), tmp_path / "stderr", env=env)
    if not wait_until(lambda: (ready.exists() and ready.stat().st_size > 0) or program.process.poll() is not None, 60):
        program.stop()
        pytest.fail("the program did not start its node")
    assert program.process.poll() is None, program.stderr.read_text()
    return program, json.loads(ready.read_text())


def free_port() -> int:
    """A port nobody listens on now (`prover node` defaults to 8545, which others may hold)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: object) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"http://127.0.0.1:{port}", data=body, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=2) as reply:
            return "result" in json.loads(reply.read())
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_node_dies_with_its_program(tmp_path: Path, signum: int) -> None:
    """Killed by any signal, the program takes its node and the node's temp log with it."""
    program, node = _program(tmp_path, IN_MAIN)
    try:
        assert _answers(node["port"])
        program.send(signum)
        left = program.left_behind()
        problems = ["the node's temp log outlived it"] if Path(str(node["log"])).exists() else []
        record_outcome(f"program with a node: {signal.Signals(signum).name}", left, problems)
        assert left == {}, "anvil outlived the program that started it"
        assert problems == []
    finally:
        program.stop()


def test_node_started_by_a_thread_lives_as_long_as_its_program(tmp_path: Path) -> None:
    """A parent-death signal fires when the *thread* that forked the node ends: a node
    started from a helper thread must not die with that thread, only with the program."""
    program, node = _program(tmp_path, IN_THREAD)
    try:
        answered = _answers(node["port"])
        program.send(signal.SIGKILL)
        left = program.left_behind()
        problems = [] if answered else ["the node died with the thread that started it"]
        record_outcome("program with a node started by a finished thread: SIGKILL", left, problems)
        assert problems == []
        assert left == {}
    finally:
        program.stop()


def test_node_behind_a_wrapper_dies_with_its_program(tmp_path: Path) -> None:
    """$PROVER_ANVIL may be a wrapper that runs the real binary as its child (npm's node
    wrapper does): a signal to the wrapper alone leaves that child running."""
    wrapper = tmp_path / "anvil-wrapper"
    wrapper.write_text(f'#!/bin/sh\n"{anvil_binary()}" "$@" &\nwait\n')
    wrapper.chmod(0o755)
    program, _ = _program(tmp_path, IN_MAIN, {"PROVER_ANVIL": str(wrapper)})
    try:
        assert program.has(str(anvil_binary()))
        program.send(signal.SIGKILL)
        left = program.left_behind()
        record_outcome("program with a node behind a wrapper: SIGKILL", left, [])
        assert left == {}, "the wrapper's anvil outlived the program"
    finally:
        program.stop()


def test_node_dies_with_its_program_without_setpriv_on_path(tmp_path: Path) -> None:
    """Nothing on $PATH is needed for the node to die with its program."""
    program, _ = _program(tmp_path, IN_MAIN, {"PATH": str(tmp_path / "empty")})
    try:
        program.send(signal.SIGKILL)
        left = program.left_behind()
        record_outcome("program with a node, no setpriv on PATH: SIGKILL", left, [])
        assert left == {}
    finally:
        program.stop()


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        (signal.SIGTERM, conventional_exit(signal.SIGTERM)),
        (signal.SIGHUP, conventional_exit(signal.SIGHUP)),
        (signal.SIGINT, conventional_exit(signal.SIGINT)),
        (signal.SIGKILL, -signal.SIGKILL),
    ],
)
def test_cli_node_stops_its_anvil_on_every_signal(tmp_path: Path, signum: int, code: int) -> None:
    """`prover node` stops its anvil itself on SIGTERM, SIGHUP and SIGINT and exits with the
    shell's code for that signal; on SIGKILL the node still goes with it."""
    program = start_tagged([PROVER, "node", "--port", str(free_port()), "--workdir", tmp_path], tmp_path / "stderr")
    try:
        assert wait_until(lambda: "stops the node" in program.stderr.read_text(), 60), program.stderr.read_text()
        assert wait_until(lambda: program.has(str(anvil_binary())), 10)
        exit_code = program.send(signum)
        left = program.left_behind()
        problems = [] if exit_code == code else [f"exit code {exit_code}, not {code}"]
        problems += ["traceback"] if "Traceback" in program.stderr.read_text() else []
        record_outcome(f"prover node: {signal.Signals(signum).name}", left, problems)
        assert problems == [], program.stderr.read_text()
        assert left == {}
    finally:
        program.stop()
