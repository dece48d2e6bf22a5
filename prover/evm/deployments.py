"""Where deployed contracts are recorded: `<workdir>/deployments/<chainId>.json`.

One file per chain so a local dev chain (31337, gitignored) never mixes with a real one.
The file is stamped with the chain instance it describes, its genesis block hash: a
restarted dev chain hands the same addresses to the same code in a deterministic run, so
neither the address nor the code tells a dead chain's record from a live one. Records of
another instance are ignored when loaded and replaced on the next write. A record is
trusted only while the code at its address is still the code that was deployed, too.
"""

from __future__ import annotations

import contextlib
import fcntl
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from web3 import Web3
from web3.exceptions import Web3Exception

from prover.artifacts import write_json_atomic
from prover.errors import ChainError
from prover.evm.client import Chain, DeployResult
from prover.evm.node import DEV_CHAIN_ID
from prover.jsonio import read_json

_INSTANCES: weakref.WeakKeyDictionary[Chain, str | None] = weakref.WeakKeyDictionary()


def deployments_path(workdir: Path, chain_id: int) -> Path:
    return Path(workdir) / "deployments" / f"{int(chain_id)}.json"


def chain_instance(chain: Chain) -> str | None:
    """The chain's genesis block hash, read once per Chain: what tells one run of a dev
    chain from the next (anvil's genesis changes with its start second). None if the node
    will not say; its records are then checked by their code only."""
    if chain not in _INSTANCES:
        try:
            _INSTANCES[chain] = chain.w3.eth.get_block(0)["hash"].to_0x_hex()
        except (Web3Exception, requests.RequestException, OSError, ValueError, KeyError, TypeError):
            _INSTANCES[chain] = None
    return _INSTANCES[chain]


def _identity(chain: Chain | int) -> tuple[int, str | None]:
    """Chain id and instance; a bare chain id (older callers) has no instance to check."""
    return (int(chain.chain_id), chain_instance(chain)) if isinstance(chain, Chain) else (int(chain), None)


def _same_instance(chain_id: int, recorded: str | None, current: str | None) -> bool:
    """Whether records stamped `recorded` describe the instance `current`. An unstamped
    file (written before stamps) is adopted on a public chain, whose genesis never
    changes, and dropped on a dev chain, which may have restarted since."""
    if current is None:
        return True
    if recorded is None:
        return chain_id != DEV_CHAIN_ID
    return recorded == current


def _read(path: Path, chain_id: int) -> tuple[str | None, dict[str, Any]]:
    """The file's instance stamp and its contracts by name; nothing for no file. A damaged
    file of a dev chain counts as no records (they were of some instance of a chain that
    restarts; the next write replaces them); of any other chain it is an error, since
    those records may be all that says where a user's contracts are."""
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


def load_deployments(workdir: Path, chain: Chain | int) -> dict[str, Any]:
    """Contracts recorded for this chain instance, by name; empty when none were recorded,
    or when the records are another instance's. Pass the Chain: with a bare chain id the
    records cannot be told apart from a dead chain's (accepted for older callers)."""
    chain_id, current = _identity(chain)
    recorded, contracts = _read(deployments_path(workdir, chain_id), chain_id)
    return contracts if _same_instance(chain_id, recorded, current) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One read-modify-write of a deployments file at a time: two commands against one
    node would otherwise drop each other's records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record_deployment(workdir: Path, chain: Chain | int, name: str, entry: dict[str, Any]) -> Path:
    """Add or replace one contract's entry, keeping the others of this instance (another
    instance's are dropped); written atomically, stamped with the instance."""
    chain_id, current = _identity(chain)
    path = deployments_path(workdir, chain_id)
    with _locked(path):
        recorded, contracts = _read(path, chain_id)
        if not _same_instance(chain_id, recorded, current):
            contracts = {}
        contracts[name] = entry
        stamp = current or recorded
        document = {
            "chainId": chain_id,
            **({"genesis": stamp} if stamp else {}),
            "contracts": dict(sorted(contracts.items())),
        }
        write_json_atomic(path, document)
    return path


def code_hash(chain: Chain, address: str) -> str:
    """keccak256 of the runtime code at `address` (of empty code when there is none)."""
    return Web3.keccak(chain.w3.eth.get_code(Web3.to_checksum_address(address))).hex()


def record_contract(chain: Chain, workdir: Path, name: str, deployed: DeployResult, **facts: Any) -> dict[str, Any]:
    """Record a contract this run deployed, with the hash of its code (what `trusted` checks)."""
    entry = {
        "address": deployed.address,
        "gas_used": deployed.gas_used,
        "tx_hash": deployed.tx_hash,
        "code_hash": code_hash(chain, deployed.address),
        **facts,
    }
    record_deployment(workdir, chain, name, entry)
    return entry


def trusted(chain: Chain, workdir: Path, name: str, **expected: Any) -> dict[str, Any] | None:
    """The record `name` on this chain if every `expected` field matches and the code at its
    address is still the code recorded; None otherwise (deploy again)."""
    entry = load_deployments(workdir, chain).get(name)
    if entry is None or any(entry.get(key) != value for key, value in expected.items()):
        return None
    if "code_hash" not in entry or code_hash(chain, entry["address"]) != entry["code_hash"]:
        return None
    return entry


def has_code(chain: Chain, address: str) -> bool:
    """True for a well-formed address holding a contract."""
    return Web3.is_address(address) and bool(chain.w3.eth.get_code(Web3.to_checksum_address(address)))
