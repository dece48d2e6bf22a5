"""The embedded dev chain: one anvil process on 127.0.0.1, started, awaited and torn down.

The binary itself is started (not a wrapper), under a small guard (node_guard.py), in a
process group of its own that `stop` and an exit handler kill. The guard watches a pipe
only this program holds, so when the program dies in any way, SIGKILL included, it takes
the whole group down: no node outlives its program, whichever thread started it.

The same class runs `prover node`: a port, chain id and block time of the user's choice,
and the dev accounts the node funds (`AnvilNode.dev_accounts`).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
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
from dataclasses import dataclass
from pathlib import Path

import requests
from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from web3 import Web3
from web3.exceptions import Web3Exception

from prover.errors import ChainError
from prover.evm.toolchain import node_modules

ANVIL_IN_NODE_MODULES = Path("@foundry-rs/anvil-linux-amd64/bin/anvil")
DEV_CHAIN_ID = 31337
# anvil's first dev account: public knowledge, funded only on local dev chains.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
#: the mnemonic anvil derives its dev accounts from unless told otherwise (public: dev chains only)
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_DERIVATION_PATH = "m/44'/60'/0'/0/{index}"


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


def _port_in_use(port: int) -> ChainError:
    return ChainError(
        f"port {port} on 127.0.0.1 is in use (another node?)",
        hint=f"pick a free one with --port, e.g. `prover node --port {port + 1 if port < 65535 else 8546}`",
    )


def _check_port(port: int) -> None:
    """Refuse a port anvil cannot listen on before starting it: otherwise a node already
    listening there (with the same chain id) could answer our readiness poll for it. Bound
    as anvil binds (SO_REUSEADDR), so a stopped node's lingering connections do not count."""
    if not 0 < port < 65536:
        raise ChainError(f"port {port} is not a TCP port", hint="pass --port between 1 and 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _port_in_use(port) from None
            raise ChainError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="pick another --port") from None


@dataclass(frozen=True)
class DevAccount:
    """A dev account the node funds: its address, its (public, dev-only) key, its balance."""

    address: str
    private_key: str
    balance_wei: int


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


class AnvilNode:
    """One anvil process on 127.0.0.1, torn down with its whole process group.

    `port` None picks a free one (a port taken between pick and bind is retried); a given
    port is used as it is, and a busy one is an error naming `--port`. `block_time` None
    mines a block per transaction (automine), else one every `block_time` seconds.
    """

    def __init__(
        self,
        log_path: Path | None = None,
        *,
        startup_timeout: float = 20.0,
        chain_id: int = DEV_CHAIN_ID,
        port: int | None = None,
        block_time: float | None = None,
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
        self.requested_port = port
        self.block_time = block_time
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

    def _command(self, binary: Path) -> list[str]:
        assert self.port is not None
        command = [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id)]
        if self.block_time is not None:
            command += ["--block-time", f"{self.block_time:g}"]
        return [*command, *self.extra_args]

    def start(self, attempts: int = 3) -> AnvilNode:
        """Start and wait until it answers; a picked port taken between pick and bind is
        retried, a requested one that is busy is an error."""
        binary = anvil_binary()
        if self.block_time is not None and not self.block_time > 0:
            raise ChainError(f"block time {self.block_time:g} s is not positive", hint="leave it out to automine")
        if self.requested_port is not None:
            _check_port(self.requested_port)
            attempts = 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            self.port = self.requested_port if self.requested_port is not None else _free_port()
            command = self._command(binary)
            watch, self._owner = os.pipe()  # both close on exec: only this process holds the write end
            try:
                with open(self.log_path, "wb" if attempt == 1 else "ab") as log:
                    self._proc = subprocess.Popen(
                        _guarded(command, watch, self.log_path if self._owns_log else None),
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
                if port_race and self.requested_port is not None:
                    self.stop()
                    raise _port_in_use(self.requested_port) from None
                self._owns_log = False  # the error's hint points at it: keep it
                self.stop()
                raise
        return self

    def dev_accounts(self) -> list[DevAccount]:
        """The accounts this node funds (its `eth_accounts`), each with its key and balance.

        anvil derives them from `ANVIL_MNEMONIC`; the keys are derived here the same way and
        each address checked against the node's own list, so what `prover node` prints is
        what the node funds, not what it is assumed to."""
        seed = seed_from_mnemonic(ANVIL_MNEMONIC, "")
        accounts = []
        for index, funded in enumerate(self.w3.eth.accounts):
            key = key_from_seed(seed, ANVIL_DERIVATION_PATH.format(index=index))
            address = Account.from_key(key).address
            if address.lower() != str(funded).lower():
                raise ChainError(
                    f"the node's dev account {index} ({funded}) is not anvil's from its test mnemonic",
                    hint="PROVER_ANVIL must name anvil itself, which funds its test mnemonic's accounts",
                )
            accounts.append(DevAccount(address, "0x" + key.hex(), int(self.w3.eth.get_balance(address))))
        return accounts

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


def client_version(w3: Web3) -> str | None:
    """What the node says it is (`web3_clientVersion`, e.g. "anvil/v1.7.1"), None if it will not say."""
    with contextlib.suppress(Web3Exception, requests.RequestException, OSError, ValueError, TypeError):
        return str(w3.client_version)
    return None


def is_dev_chain(w3: Web3, chain_id: int) -> bool:
    """A local dev chain: the node says it is anvil (whatever its --chain-id, `prover node
    --chain-id N` included, and a fork too: its state is local and thrown away), or the
    chain id is anvil's and hardhat's default 31337. Both are the node's own word: this
    guards against pointing a dev-only action (the mock verifier) at a real chain by
    mistake, not against a node that lies."""
    if chain_id == DEV_CHAIN_ID:
        return True
    version = client_version(w3)
    return version is not None and version.lower().startswith("anvil/")


def advance_time(w3: Web3, seconds: int) -> int:
    """Move the dev chain's clock forward and mine a block; returns the new block timestamp."""
    for method, params in (("evm_increaseTime", [int(seconds)]), ("evm_mine", [])):
        response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if response.get("error"):
            raise ChainError(f"{method} failed: {response['error']}", hint="time travel needs anvil")
    return int(w3.eth.get_block("latest")["timestamp"])
