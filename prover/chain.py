"""The chain: an embedded anvil process or any RPC node, and web3 calls that explain reverts.

`node_modules/.bin/anvil` is a node wrapper that leaves the real binary running when killed,
so we start the binary itself in its own process group and kill the group on stop and at exit.
Transactions are signed locally (the node never holds a key), and every revert, which mostly
surfaces during gas estimation, becomes a `TransactionReverted` naming the custom error.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, get_abi_input_types
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import TxReceipt

from prover.errors import ChainError, TransactionReverted
from prover.toolchain import node_modules

ANVIL_IN_NODE_MODULES = Path("@foundry-rs/anvil-linux-amd64/bin/anvil")
DEV_CHAIN_ID = 31337
# anvil's first dev account: public knowledge, funded only on local dev chains.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
GAS_MARGIN = 1.2
T = TypeVar("T")


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

    def __init__(self, log_path: Path | None = None, *, startup_timeout: float = 20.0,
                 chain_id: int = DEV_CHAIN_ID, extra_args: Sequence[str] = ()) -> None:
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
        self._w3: Web3 | None = None

    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise ChainError("anvil node is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
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
            with open(self.log_path, "wb" if attempt == 1 else "ab") as log:
                self._proc = subprocess.Popen(
                    [str(binary), "--host", "127.0.0.1", "--port", str(self.port),
                     "--chain-id", str(self.chain_id), *self.extra_args],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
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
                raise ChainError(f"anvil exited with code {code} during startup: "
                                 f"{_log_tail(self.log_path)}", hint=f"full log: {self.log_path}")
            request = urllib.request.Request(self.rpc_url, data=body,
                                             headers={"Content-Type": "application/json"})
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                with opener.open(request, timeout=1.0) as response:
                    if int(json.loads(response.read())["result"], 16) == self.chain_id:
                        return
            if time.monotonic() > deadline:
                raise ChainError(f"anvil not ready after {self.startup_timeout:g} s: "
                                 f"{_log_tail(self.log_path)}", hint=f"full log: {self.log_path}")
            time.sleep(0.05)

    def _terminate(self) -> None:
        """SIGTERM the process group, give it 5 s, SIGKILL whatever is left, reap the leader."""
        proc, self._proc, self._w3 = self._proc, None, None
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


@dataclass(frozen=True)
class Chain:
    """A connected node and the local account that signs for us."""

    w3: Web3
    account: LocalAccount
    chain_id: int
    node: AnvilNode | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return str(self.account.address)


def _account(private_key: str) -> LocalAccount:
    try:
        return Account.from_key(private_key)
    except (ValueError, TypeError):  # binascii.Error is a ValueError; never echo the key
        raise ChainError("invalid private key", hint="a key is 32 bytes of hex: 0x + 64 digits") from None


def _safe_url(url: str) -> str:
    """scheme://host[:port] only: RPC URLs often carry an API key in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"


@contextlib.contextmanager
def connect(rpc_url: str | None = None, private_key: str | None = None,
            log_dir: Path | None = None, node_args: Sequence[str] = ()) -> Iterator[Chain]:
    """Embedded anvil (rpc_url None) or an existing node; the embedded one is stopped on exit.

    On the embedded node the first dev account signs, unless a key is passed, which is then
    funded there. An external node needs a key: the argument, else `$PROVER_PRIVATE_KEY`.
    `node_args` are extra anvil flags for the embedded node (measurements lift EIP-170).
    """
    if rpc_url is None:
        with AnvilNode(log_dir / "anvil.log" if log_dir is not None else None, extra_args=node_args) as node:
            account = _account(private_key or DEV_PRIVATE_KEY)
            if account.address != DEV_ADDRESS:
                fund = [account.address, hex(10**22)]
                node.w3.provider.make_request("anvil_setBalance", fund)  # type: ignore[arg-type]
            yield Chain(w3=node.w3, account=account, chain_id=node.chain_id, node=node)
        return
    key = private_key or os.environ.get("PROVER_PRIVATE_KEY")
    if not key:
        raise ChainError(f"no signing key for {_safe_url(rpc_url)}",
                         hint="pass --private-key or set PROVER_PRIVATE_KEY")
    account = _account(key)
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except (requests.RequestException, Web3Exception, OSError, ValueError) as exc:
        raise ChainError(f"cannot reach an RPC node at {_safe_url(rpc_url)} ({type(exc).__name__})",
                         hint="check --rpc-url, or leave it out to use the embedded anvil") from None
    yield Chain(w3=w3, account=account, chain_id=chain_id)


def decode_revert(data: bytes, abi: Sequence[dict[str, Any]]) -> tuple[str | None, tuple[Any, ...]]:
    """Name and arguments of revert data: the ABI's custom errors, then Error(string) and Panic."""
    selector, payload = data[:4], data[4:]
    candidates = [(str(e["name"]), get_abi_input_types(e))  # type: ignore[arg-type]
                  for e in abi if e.get("type") == "error"]
    candidates += [("Error", ["string"]), ("Panic", ["uint256"])]
    for name, types in candidates:
        signature = f"{name}({','.join(types)})"
        if len(data) >= 4 and function_signature_to_4byte_selector(signature) == selector:
            with contextlib.suppress(Exception):  # a selector clash with undecodable data
                return name, tuple(abi_decode(types, payload))
    return None, ()


def _revert_bytes(exc: ContractLogicError) -> bytes:
    """web3 8 puts the raw revert data in `.data` as a hex string (message varies by kind)."""
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(data[2:])
    return b""


def _guarded(action: str, abi: Sequence[dict[str, Any]], fn: Callable[[], T]) -> T:
    """Run one node call; reverts become TransactionReverted, other failures ChainError."""
    try:
        return fn()
    except ContractLogicError as exc:
        data = _revert_bytes(exc)
        name, args = decode_revert(data, abi)
        raise TransactionReverted(action, name, args, data) from None
    except (Web3Exception, requests.RequestException, ValueError, TypeError) as exc:
        message = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
        raise ChainError(f"{action} failed: {message}") from None


def contract_at(chain: Chain, address: str, abi: list[dict[str, Any]]) -> Contract:
    return chain.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def send_transaction(chain: Chain, action: str, abi: Sequence[dict[str, Any]], tx: dict[str, Any]) -> TxReceipt:
    """Estimate (where most reverts surface), price, sign locally, send raw, await the receipt."""
    w3 = chain.w3
    tx = {**tx, "from": chain.account.address, "chainId": chain.chain_id}
    estimate = _guarded(action, abi, lambda: w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
    latest = w3.eth.get_block("latest")
    tx["gas"] = min(math.ceil(estimate * GAS_MARGIN), int(latest["gasLimit"]))
    tx["nonce"] = w3.eth.get_transaction_count(chain.account.address, "pending")
    base_fee = latest.get("baseFeePerGas")
    if base_fee is None:
        tx["gasPrice"] = w3.eth.gas_price
    else:
        tip = w3.eth.max_priority_fee
        tx.update(maxFeePerGas=2 * int(base_fee) + tip, maxPriorityFeePerGas=tip)
    raw = chain.account.sign_transaction(tx).raw_transaction
    receipt = _guarded(action, abi, lambda: w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(raw), timeout=120))
    if receipt["status"] != 1:
        # Mined but reverted: state moved after estimation, most likely by an earlier tx in
        # the same block, so replay on the block's final state to recover the reason.
        replay = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value")}
        _guarded(action, abi, lambda: w3.eth.call(replay, receipt["blockNumber"]))  # type: ignore[arg-type]
        raise TransactionReverted(action, None, (), b"")
    return receipt


@dataclass(frozen=True)
class DeployResult:
    address: str
    gas_used: int
    tx_hash: str


def deploy(chain: Chain, artifact: dict[str, Any], *args: Any) -> DeployResult:
    """Deploy compiled contract JSON (`abi`, `bytecode`) with constructor arguments."""
    abi, bytecode = artifact["abi"], artifact["bytecode"]
    factory = chain.w3.eth.contract(abi=abi, bytecode=bytecode)
    data = _guarded("deploy", abi, lambda: factory.constructor(*args).data_in_transaction)
    receipt = send_transaction(chain, "deploy", abi, {"data": data, "value": 0})
    return DeployResult(address=str(receipt["contractAddress"]), gas_used=int(receipt["gasUsed"]),
                        tx_hash=receipt["transactionHash"].to_0x_hex())


def transact(chain: Chain, contract: Contract, fn_name: str, *args: Any, value: int = 0) -> TxReceipt:
    data = _guarded(fn_name, contract.abi, lambda: contract.encode_abi(fn_name, args=list(args)))
    return send_transaction(chain, fn_name, contract.abi, {"to": contract.address, "data": data, "value": value})


def call(chain: Chain, contract: Contract, fn_name: str, *args: Any, block: int | str = "latest") -> Any:
    """Read a view function as our account would see it, at `block` (pin it for consistent reads)."""
    return _guarded(fn_name, contract.abi, lambda: contract.functions[fn_name](*args).call(
        {"from": chain.account.address}, block_identifier=block))


def estimate_gas(chain: Chain, contract: Contract, fn_name: str, *args: Any, value: int = 0) -> int:
    tx: Any = {"from": chain.account.address, "value": value}
    return int(_guarded(fn_name, contract.abi, lambda: contract.functions[fn_name](*args).estimate_gas(tx)))
