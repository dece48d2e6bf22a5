"""A connection to a chain (the embedded anvil or any RPC node), and web3 calls that explain reverts.

Transactions are signed locally (the node never holds a key), and every revert, which mostly
surfaces during gas estimation, becomes a `TransactionReverted` naming the custom error.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector, get_abi_input_types
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import BlockIdentifier, TxReceipt

from prover.errors import ChainError, TransactionReverted, first_line
from prover.evm.node import DEV_ADDRESS, DEV_PRIVATE_KEY, AnvilNode
from prover.jsonio import restore_recursion_limit

restore_recursion_limit()  # eth_account, imported above, pulls in py_ecc, which raised it to 100000

GAS_MARGIN = 1.2
T = TypeVar("T")
#: the caller of reads in a session without a key (eth_call needs some `from`)
READ_ONLY_CALLER = "0x0000000000000000000000000000000000000000"
SIGNER_HINT = (
    "pass --private-key KEY or --account NAME (a keystore from `prover account import`), or set PROVER_PRIVATE_KEY"
)


@dataclass(frozen=True)
class Chain:
    """A connected node and the local account that signs for us, if any: a session without
    one reads (verify on chain, audit, status) and fails by name at its first transaction."""

    w3: Web3
    account: LocalAccount | None
    chain_id: int
    node: AnvilNode | None = field(default=None, repr=False)

    @property
    def signer(self) -> LocalAccount:
        if self.account is None:
            raise ChainError("this command sends a transaction and has no signing key", hint=SIGNER_HINT)
        return self.account

    @property
    def address(self) -> str:
        """The signing account's address (a transaction's sender, a contract's owner)."""
        return str(self.signer.address)

    def signed_by(self, key: str | LocalAccount) -> Chain:
        """The same node, signing with another key (a second party in a demo or a test);
        the node stays owned by this session."""
        return Chain(w3=self.w3, account=_account(key), chain_id=self.chain_id)

    @property
    def caller(self) -> str:
        """Who reads run as: the signer, else the zero address."""
        return str(self.account.address) if self.account is not None else READ_ONLY_CALLER


def _account(key: str | LocalAccount) -> LocalAccount:
    if isinstance(key, LocalAccount):
        return key
    try:
        return Account.from_key(key)
    except (ValueError, TypeError):  # binascii.Error is a ValueError; never echo the key
        raise ChainError("invalid private key", hint="a key is 32 bytes of hex: 0x + 64 digits") from None


def _checked_rpc_url(url: str) -> str:
    """An http(s) URL with a host: `localhost:8545` parses as scheme "localhost" and no host,
    which web3 would only report as unreachable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChainError(
            "--rpc-url is not an http(s) URL with a host",  # not echoed: the path may hold an API key
            hint="write it with its scheme, e.g. --rpc-url http://127.0.0.1:8545 (what `prover node` prints)",
        )
    return url


def _safe_url(url: str) -> str:
    """scheme://host[:port] only: RPC URLs often carry an API key in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"


@contextlib.contextmanager
def connect(
    rpc_url: str | None = None,
    private_key: str | LocalAccount | None = None,
    log_dir: Path | None = None,
    node_args: Sequence[str] = (),
) -> Iterator[Chain]:
    """Embedded anvil (rpc_url None) or an existing node; the embedded one is stopped on exit.

    On the embedded node the first dev account signs, unless a key or account is passed,
    which is then funded there. On an external node the key is the argument, else
    `$PROVER_PRIVATE_KEY`; without either the session reads only (`Chain.signer` says so
    at the first transaction). `node_args` are extra anvil flags for the embedded node
    (measurements lift EIP-170).
    """
    if rpc_url is None:
        with AnvilNode(log_dir / "anvil.log" if log_dir is not None else None, extra_args=node_args) as node:
            embedded = _account(private_key or DEV_PRIVATE_KEY)
            if embedded.address != DEV_ADDRESS:
                fund = [embedded.address, hex(10**22)]
                node.w3.provider.make_request("anvil_setBalance", fund)  # type: ignore[arg-type]
            yield Chain(w3=node.w3, account=embedded, chain_id=node.chain_id, node=node)
        return
    _checked_rpc_url(rpc_url)
    key = private_key or os.environ.get("PROVER_PRIVATE_KEY") or None
    account = _account(key) if key is not None else None
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        chain_id = int(w3.eth.chain_id)
    except (requests.RequestException, Web3Exception, OSError, ValueError) as exc:
        raise ChainError(
            f"cannot reach an RPC node at {_safe_url(rpc_url)} ({type(exc).__name__})",
            hint="check --rpc-url, or leave it out to use the embedded anvil",
        ) from None
    yield Chain(w3=w3, account=account, chain_id=chain_id)


@contextlib.contextmanager
def measurement_chain() -> Iterator[Chain]:
    """An embedded anvil without the EIP-170 size limit, so an oversize verifier is still
    measured (and flagged by `GasCost.fits_eip170`) instead of failing the whole run."""
    with connect(None, node_args=("--disable-code-size-limit",)) as chain:
        yield chain


def decode_revert(data: bytes, abi: Sequence[Any]) -> tuple[str | None, tuple[Any, ...]]:
    """Name and arguments of revert data: the ABI's custom errors, then Error(string) and Panic."""
    selector, payload = data[:4], data[4:]
    candidates = [(str(e["name"]), get_abi_input_types(e)) for e in abi if e.get("type") == "error"]
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


def _guarded(action: str, abi: Sequence[Any], fn: Callable[[], T]) -> T:
    """Run one node call; reverts become TransactionReverted, other failures ChainError."""
    try:
        return fn()
    except ContractLogicError as exc:
        data = _revert_bytes(exc)
        name, args = decode_revert(data, abi)
        raise TransactionReverted(action, name, args, data) from None
    except (Web3Exception, requests.RequestException, ValueError, TypeError) as exc:
        message = first_line(exc)
        raise ChainError(f"{action} failed: {message}") from None


def contract_at(chain: Chain, address: str, abi: list[dict[str, Any]]) -> Contract:
    return chain.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def send_transaction(chain: Chain, action: str, abi: Sequence[Any], tx: dict[str, Any]) -> TxReceipt:
    """Estimate (where most reverts surface), price, sign locally, send raw, await the receipt."""
    w3 = chain.w3
    signer = chain.signer
    tx = {**tx, "from": signer.address, "chainId": chain.chain_id}
    estimate = _guarded(action, abi, lambda: w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
    latest = w3.eth.get_block("latest")
    tx["gas"] = min(math.ceil(estimate * GAS_MARGIN), int(latest["gasLimit"]))
    tx["nonce"] = w3.eth.get_transaction_count(signer.address, "pending")
    base_fee = latest.get("baseFeePerGas")
    if base_fee is None:
        tx["gasPrice"] = w3.eth.gas_price
    else:
        tip = w3.eth.max_priority_fee
        tx.update(maxFeePerGas=2 * int(base_fee) + tip, maxPriorityFeePerGas=tip)
    raw = signer.sign_transaction(tx).raw_transaction
    receipt = _guarded(
        action, abi, lambda: w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=120)
    )
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
    return DeployResult(
        address=str(receipt["contractAddress"]),
        gas_used=int(receipt["gasUsed"]),
        tx_hash=receipt["transactionHash"].to_0x_hex(),
    )


def transact(chain: Chain, contract: Contract, fn_name: str, *args: Any, value: int = 0) -> TxReceipt:
    data = _guarded(fn_name, contract.abi, lambda: contract.encode_abi(fn_name, args=list(args)))
    return send_transaction(chain, fn_name, contract.abi, {"to": contract.address, "data": data, "value": value})


def call(chain: Chain, contract: Contract, fn_name: str, *args: Any, block: BlockIdentifier = "latest") -> Any:
    """Read a view function as our account would see it, at `block` (pin it for consistent reads)."""
    return _guarded(
        fn_name,
        contract.abi,
        lambda: contract.functions[fn_name](*args).call({"from": chain.caller}, block_identifier=block),
    )


def estimate_gas(chain: Chain, contract: Contract, fn_name: str, *args: Any, value: int = 0) -> int:
    tx: Any = {"from": chain.caller, "value": value}
    return int(_guarded(fn_name, contract.abi, lambda: contract.functions[fn_name](*args).estimate_gas(tx)))
