"""Where deployed contracts are recorded: `<workdir>/deployments/<chainId>.json`.

One file per chain so a local dev chain (31337, gitignored) never mixes with a real one.
The file is stamped with the chain instance it describes, its genesis block hash: a
restarted dev chain hands the same addresses to the same code in a deterministic run, so
neither the address nor the code tells a dead chain's record from a live one. Records of
another instance are ignored when loaded and replaced on the next write. A record is
trusted only while the code at its address is still the code that was deployed, too.

A contract's record says what Foundry's `broadcast/` files and hardhat-deploy's
`deployments/<network>/<Name>.json` say, so a script or block explorer can use it without
this toolkit: address, transaction and block, deployer, constructor arguments (as sent,
ABI-encoded, and decoded), the runtime code's keccak, the solc version string the artifact
was compiled with, the contract's name, gas used, and `abi`: the path, relative to the
record's folder, of the contract's ABI written beside it (`<chainId>/abi/<record>.json`,
one file per record, so a record never points at a later contract's ABI).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import re
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import get_abi_input_types
from web3 import Web3
from web3.exceptions import Web3Exception

from prover.artifacts import write_json_atomic
from prover.errors import ChainError
from prover.evm.client import Chain, DeployResult
from prover.evm.node import DEV_CHAIN_ID
from prover.jsonio import read_json

_INSTANCES: weakref.WeakKeyDictionary[Chain, str | None] = weakref.WeakKeyDictionary()
_RECORD_FILE = re.compile(r"(\d+)\.json")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: what a node raises for a read it cannot answer (down, unreachable, malformed reply)
NODE_ERRORS = (Web3Exception, requests.RequestException, OSError, ValueError, KeyError, TypeError)


def deployments_path(workdir: Path, chain_id: int) -> Path:
    return Path(workdir) / "deployments" / f"{int(chain_id)}.json"


def abi_path(workdir: Path, chain_id: int, name: str) -> Path:
    """Where record `name`'s ABI is written: `deployments/<chainId>/abi/<name>.json`."""
    return deployments_path(workdir, chain_id).with_suffix("") / "abi" / f"{_UNSAFE.sub('_', name)}.json"


def chain_instance(chain: Chain) -> str | None:
    """The chain's genesis block hash, read once per Chain: what tells one run of a dev
    chain from the next (anvil's genesis changes with its start second). None if the node
    will not say; its records are then checked by their code only."""
    if chain not in _INSTANCES:
        try:
            _INSTANCES[chain] = chain.w3.eth.get_block(0)["hash"].to_0x_hex()
        except NODE_ERRORS:
            _INSTANCES[chain] = None
    return _INSTANCES[chain]


def _identity(chain: Chain | int) -> tuple[int, str | None]:
    """Chain id and instance; a bare chain id (older callers) has no instance to check."""
    return (int(chain.chain_id), chain_instance(chain)) if isinstance(chain, Chain) else (int(chain), None)


def same_instance(chain_id: int, recorded: str | None, current: str | None) -> bool:
    """Whether records stamped `recorded` describe the instance `current`. An unstamped
    file (written before stamps) is adopted on a public chain, whose genesis never
    changes, and dropped on a dev chain, which may have restarted since."""
    if current is None:
        return True
    if recorded is None:
        return chain_id != DEV_CHAIN_ID
    return recorded == current


def read_records(path: Path, chain_id: int) -> tuple[str | None, dict[str, Any]]:
    """A records file's instance stamp and its records by name, whatever instance it
    describes; nothing for no file. A damaged file of a dev chain counts as no records
    (they were of some instance of a chain that restarts; the next write replaces them);
    of any other chain it is an error, since those records may be all that says where a
    user's contracts are."""
    if not path.exists():
        return None, {}
    hint = "move it aside; the next deploy writes a fresh one"
    try:
        document = read_json(path, "deployment record", ChainError, hint)  # bounded: the path is a user's
        contracts, genesis = document["contracts"], document.get("genesis")
        if not isinstance(contracts, dict) or not isinstance(genesis, str | None):
            raise TypeError("'contracts' is not an object")
    except (ChainError, KeyError, TypeError) as exc:
        if chain_id == DEV_CHAIN_ID:
            return None, {}
        if isinstance(exc, ChainError):
            raise
        raise ChainError(f"deployment record {path} is unreadable ({type(exc).__name__})", hint=hint) from None
    return genesis, contracts


def load_records(path: Path, chain: Chain | int) -> dict[str, Any]:
    """The records in `path` of this chain instance, by name (see `load_deployments`)."""
    chain_id, current = _identity(chain)
    recorded, contracts = read_records(path, chain_id)
    return contracts if same_instance(chain_id, recorded, current) else {}


def load_deployments(workdir: Path, chain: Chain | int) -> dict[str, Any]:
    """Contracts recorded for this chain instance, by name; empty when none were recorded,
    or when the records are another instance's. Pass the Chain: with a bare chain id the
    records cannot be told apart from a dead chain's (accepted for older callers)."""
    return load_records(deployments_path(workdir, _identity(chain)[0]), chain)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One read-modify-write of a records file at a time: two commands against one node
    would otherwise drop each other's records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def editing_records(path: Path, chain: Chain | int) -> Iterator[dict[str, Any]]:
    """The records in `path` of this chain instance, to change in place, under the file's
    lock for the whole block (so a caller may decide and deploy before anyone else looks);
    written back atomically and stamped with the instance if the block changed them.
    Another instance's records are dropped on that write."""
    chain_id, current = _identity(chain)
    with _locked(path):
        recorded, contracts = read_records(path, chain_id)
        if not same_instance(chain_id, recorded, current):
            contracts = {}
        before = copy.deepcopy(contracts)
        yield contracts
        if contracts == before:
            return
        stamp = current or recorded
        document = {
            "chainId": chain_id,
            **({"genesis": stamp} if stamp else {}),
            "contracts": dict(sorted(contracts.items())),
        }
        write_json_atomic(path, document)


def record_deployment(
    workdir: Path, chain: Chain | int, name: str, entry: dict[str, Any], abi: list[dict[str, Any]] | None = None
) -> Path:
    """Add or replace one entry, keeping the others of this instance (another instance's
    are dropped); written atomically, stamped with the instance. With `abi`, the contract's
    ABI is written beside the records under the same lock and the entry names its path."""
    chain_id = _identity(chain)[0]
    path = deployments_path(workdir, chain_id)
    with editing_records(path, chain) as contracts:
        if abi is not None:
            entry["abi"] = write_abi(workdir, chain_id, name, abi)
        contracts[name] = entry
    return path


def code_hash(chain: Chain, address: str) -> str:
    """keccak256 of the runtime code at `address` as 0x hex (of empty code when there is none)."""
    return Web3.keccak(chain.w3.eth.get_code(Web3.to_checksum_address(address))).to_0x_hex()


def holds_recorded_code(chain: Chain, entry: Any) -> bool:
    """Whether a record's address still holds the code whose hash it recorded (records
    written before hashes carried their 0x compare the same)."""
    if not isinstance(entry, Mapping):
        return False
    address, recorded = entry.get("address"), entry.get("code_hash")
    if not isinstance(address, str) or not isinstance(recorded, str) or not Web3.is_address(address):
        return False
    return code_hash(chain, address).removeprefix("0x") == recorded.lower().removeprefix("0x")


def _components(kind: str) -> list[str]:
    """The member types of an ABI tuple type `(a,(b,c)[],d)`, split at its top-level commas."""
    parts, depth, start = [], 0, 1
    for index, char in enumerate(kind[1:-1], start=1):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(kind[start:index])
            start = index + 1
    return [*parts, kind[start:-1]] if len(kind) > 2 else []


def readable(kind: str, value: Any) -> Any:
    """A decoded ABI value as JSON a person reads: numbers as decimal strings (exact for any
    reader, as in Foundry's broadcast files), bytes as 0x hex, addresses checksummed,
    arrays and tuples as lists."""
    if kind.endswith("]"):
        return [readable(kind[: kind.rindex("[")], item) for item in value]
    if kind.startswith("("):
        return [readable(member, item) for member, item in zip(_components(kind), value, strict=True)]
    if kind == "address":
        return Web3.to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def constructor_arguments(artifact: Mapping[str, Any], tx_input: str) -> tuple[str | None, list[Any] | None]:
    """The constructor arguments a deployment sent, as the ABI-encoded hex after the
    creation code and decoded by the constructor's ABI; (None, None) when the transaction
    did not start with this artifact's creation code."""
    creation = str(artifact["bytecode"]).removeprefix("0x").lower()
    sent = tx_input.removeprefix("0x").lower()
    if not sent.startswith(creation):
        return None, None
    encoded = sent[len(creation) :]
    constructor = next((item for item in artifact["abi"] if item.get("type") == "constructor"), None)
    kinds = get_abi_input_types(constructor) if constructor is not None else []
    try:
        values = abi_decode(kinds, bytes.fromhex(encoded))
    except (DecodingError, ValueError):
        return "0x" + encoded, None
    return "0x" + encoded, [readable(kind, value) for kind, value in zip(kinds, values, strict=True)]


def write_abi(workdir: Path, chain_id: int, name: str, abi: list[dict[str, Any]]) -> str:
    """Write record `name`'s ABI beside the records (atomically); its path relative to the
    records' folder, as the record names it."""
    target = abi_path(workdir, chain_id, name)
    write_json_atomic(target, abi)
    return str(target.relative_to(deployments_path(workdir, chain_id).parent))


def record_contract(
    chain: Chain, workdir: Path, name: str, deployed: DeployResult, artifact: Mapping[str, Any], **facts: Any
) -> dict[str, Any]:
    """Record a contract this run deployed from `artifact` (the compiled JSON: abi,
    bytecode, contractName, compiler): where, by whom, in which transaction and block, with
    which constructor arguments (read back from the transaction as sent), the hash of its
    code (what `trusted` checks), the compiler, and its ABI written beside the record."""
    tx = chain.w3.eth.get_transaction(deployed.tx_hash)  # type: ignore[arg-type]
    encoded, decoded = constructor_arguments(artifact, bytes(tx["input"]).hex())
    entry = {
        "address": deployed.address,
        "contract": artifact.get("contractName"),
        "tx_hash": deployed.tx_hash,
        "block_number": int(tx["blockNumber"]),
        "deployer": Web3.to_checksum_address(tx["from"]),
        "constructor_args": encoded,
        "constructor_args_decoded": decoded,
        "code_hash": code_hash(chain, deployed.address),
        "compiler": (artifact.get("compiler") or {}).get("solc"),
        "abi": None,  # the path, once written (below)
        "gas_used": deployed.gas_used,
        **facts,
    }
    record_deployment(workdir, chain, name, entry, list(artifact["abi"]))
    return entry


def trusted(chain: Chain, workdir: Path, name: str, **expected: Any) -> dict[str, Any] | None:
    """The record `name` on this chain if every `expected` field matches and the code at its
    address is still the code recorded; None otherwise (deploy again)."""
    entry = load_deployments(workdir, chain).get(name)
    if entry is None or any(entry.get(key) != value for key, value in expected.items()):
        return None
    return entry if holds_recorded_code(chain, entry) else None


def has_code(chain: Chain, address: str) -> bool:
    """True for a well-formed address holding a contract."""
    return Web3.is_address(address) and bool(chain.w3.eth.get_code(Web3.to_checksum_address(address)))


def is_live(chain: Chain, genesis: str | None, entry: Mapping[str, Any]) -> bool:
    """Whether a record (from a file stamped `genesis`) still describes this chain: the same
    instance, and for a contract the code recorded (any code, for a record without its
    hash), for a model the registry it names still holding code."""
    if not same_instance(chain.chain_id, genesis, chain_instance(chain)):
        return False
    if "code_hash" in entry:
        return holds_recorded_code(chain, entry)
    address = entry.get("address") or entry.get("registry")
    return isinstance(address, str) and has_code(chain, address)


def recorded_chains(workdir: Path) -> list[int]:
    """The chain ids with a records file in `workdir`, in order."""
    folder = Path(workdir) / "deployments"
    found = (_RECORD_FILE.fullmatch(path.name) for path in folder.glob("*.json")) if folder.is_dir() else ()
    return sorted(int(match[1]) for match in found if match)


def chain_records(workdir: Path, chain_id: int, chain: Chain | None = None) -> list[dict[str, Any]]:
    """The records of `workdir` for chain `chain_id`, one flat dict each: chain id, the
    file's instance stamp, name, kind (contract, model), the record's own fields, and with
    `chain` (connected to that chain) `status`: live or stale (`is_live`). Records of every
    instance are listed, which a stale mark then explains."""
    genesis, records = read_records(deployments_path(workdir, chain_id), chain_id)
    rows = []
    for name, entry in sorted(records.items()):
        fields = dict(entry) if isinstance(entry, dict) else {"value": entry}
        kind = "contract" if "address" in fields else "model" if "model_id" in fields else "other"
        row = {"chain_id": chain_id, "genesis": genesis, "name": name, "kind": kind, **fields}
        if chain is not None:
            row["status"] = "live" if is_live(chain, genesis, fields) else "stale"
        rows.append(row)
    return rows
