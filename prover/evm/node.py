"""The embedded dev chain: one anvil process on 127.0.0.1, started, awaited and torn down.

The binary itself is started (not a wrapper), under a small guard (node_guard.py), in a
process group of its own that `stop` and an exit handler kill. The guard watches a pipe
only this program holds, so when the program dies in any way, SIGKILL included, it takes
the whole group down: no node outlives its program, whichever thread started it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import requests
from web3 import Web3

from prover.errors import ChainError
from prover.evm.toolchain import node_modules

ANVIL_IN_NODE_MODULES = Path("@foundry-rs/anvil-linux-amd64/bin/anvil")
DEV_CHAIN_ID = 31337
# anvil's first dev account: public knowledge, funded only on local dev chains.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def anvil_binary() -> Path:
    """The real anvil binary: `$PROVER_ANVIL`, else the one npm put under the project root."""
    override = os.environ.get("PROVER_ANVIL")
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ChainError(f"PROVER_ANVIL={override} is not an executable file")
        return path
    binary = node_modules() / ANVIL_IN_NODE_MODULES
    if binary.is_file():
        return binary
    raise ChainError("anvil binary not found under node_modules", hint="run `make setup` (npm ci)")


GUARD = Path(__file__).with_name("node_guard.py")


def _guarded(command: list[str], watch: int, remove: Path | None) -> list[str]:
    """`command` under the guard, which ends it when the write end of `watch` closes
    (standard library only: -I -S starts it in milliseconds, whatever the environment)."""
    extra = ["--remove", str(remove)] if remove is not None else []
    return [sys.executable, "-I", "-S", str(GUARD), str(watch), *extra, "--", *command]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


class AnvilNode:
    """One anvil process on 127.0.0.1, automining, torn down with its whole process group."""

    def __init__(
        self,
        log_path: Path | None = None,
        *,
        startup_timeout: float = 20.0,
        chain_id: int = DEV_CHAIN_ID,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._owns_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="anvil-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = Path(log_path)
        self.startup_timeout = startup_timeout
        self.chain_id = chain_id
        self.extra_args = tuple(extra_args)
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner: int | None = None  # the write end of the guard's pipe: the node lives while it is open
        self._w3: Web3 | None = None

    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise ChainError("anvil node is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The node's guard: its process group's leader (the group holds anvil)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            session = requests.Session()
            session.trust_env = False  # ignore *_PROXY: a local node is never reached via a proxy
            self._w3 = Web3(Web3.HTTPProvider(self.rpc_url, session=session))
        return self._w3

    def start(self, attempts: int = 3) -> AnvilNode:
        """Start and wait until it answers; a port taken between pick and bind is retried."""
        binary = anvil_binary()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            command = [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id)]
            watch, self._owner = os.pipe()  # both close on exec: only this process holds the write end
            try:
                with open(self.log_path, "wb" if attempt == 1 else "ab") as log:
                    self._proc = subprocess.Popen(
                        _guarded([*command, *self.extra_args], watch, self.log_path if self._owns_log else None),
                        pass_fds=(watch,),
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            finally:
                os.close(watch)
            atexit.register(self.stop)
            try:
                self._wait_ready()
                return self
            except ChainError:
                port_race = "Address already in use" in _log_tail(self.log_path, 3)
                if port_race and attempt < attempts:
                    self._terminate()
                    continue
                self._owns_log = False  # the error's hint points at it: keep it
                self.stop()
                raise
        return self

    def _wait_ready(self) -> None:
        """Poll eth_chainId with a deadline; an early exit fails at once with the log's tail."""
        assert self._proc is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise ChainError(
                    f"anvil exited with code {code} during startup: {_log_tail(self.log_path)}",
                    hint=f"full log: {self.log_path}",
                )
            request = urllib.request.Request(self.rpc_url, data=body, headers={"Content-Type": "application/json"})
            with (
                contextlib.suppress(OSError, ValueError, KeyError, TypeError),
                opener.open(request, timeout=1.0) as reply,
            ):
                if int(json.loads(reply.read())["result"], 16) == self.chain_id:
                    return
            if time.monotonic() > deadline:
                raise ChainError(
                    f"anvil not ready after {self.startup_timeout:g} s: {_log_tail(self.log_path)}",
                    hint=f"full log: {self.log_path}",
                )
            time.sleep(0.05)

    def _terminate(self) -> None:
        """SIGTERM the process group, give it 5 s, SIGKILL whatever is left, reap the leader."""
        proc, self._proc, self._w3 = self._proc, None, None
        owner, self._owner = self._owner, None
        if owner is not None:
            os.close(owner)  # the guard's cue too, should a signal below not reach it
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        """Idempotent; also runs at interpreter exit so no failure leaves a node behind."""
        self._terminate()
        self.port = None
        atexit.unregister(self.stop)
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> AnvilNode:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the dev chain's clock forward and mine a block; returns the new block timestamp."""
    for method, params in (("evm_increaseTime", [int(seconds)]), ("evm_mine", [])):
        response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if response.get("error"):
            raise ChainError(f"{method} failed: {response['error']}", hint="time travel needs anvil")
    return int(w3.eth.get_block("latest")["timestamp"])
