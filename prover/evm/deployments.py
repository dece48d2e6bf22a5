"""Where deployed contracts are recorded: `<workdir>/deployments/<chainId>.json`.

One file per chain so a local dev chain (31337, gitignored) never mixes with a real one.
A record is trusted only while the code at its address is still the code that was
deployed: a restarted dev chain hands the same addresses to other contracts, or to none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from web3 import Web3

from prover.artifacts import write_json_atomic
from prover.errors import ChainError
from prover.evm.client import Chain, DeployResult


def deployments_path(workdir: Path, chain_id: int) -> Path:
    return Path(workdir) / "deployments" / f"{int(chain_id)}.json"


def load_deployments(workdir: Path, chain_id: int) -> dict[str, Any]:
    """Contracts recorded for this chain, by name; empty when none were recorded yet."""
    path = deployments_path(workdir, chain_id)
    if not path.exists():
        return {}
    try:
        contracts = json.loads(path.read_text())["contracts"]
        if not isinstance(contracts, dict):
            raise TypeError("'contracts' is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise ChainError(
            f"deployment record {path} is unreadable ({type(exc).__name__})",
            hint="move it aside; the next deploy writes a fresh one",
        ) from None
    return contracts


def record_deployment(workdir: Path, chain_id: int, name: str, entry: dict[str, Any]) -> Path:
    """Add or replace one contract's entry, keeping the others; written atomically."""
    contracts = load_deployments(workdir, chain_id)
    contracts[name] = entry
    path = deployments_path(workdir, chain_id)
    write_json_atomic(path, {"chainId": int(chain_id), "contracts": dict(sorted(contracts.items()))})
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
    record_deployment(workdir, chain.chain_id, name, entry)
    return entry


def trusted(chain: Chain, workdir: Path, name: str, **expected: Any) -> dict[str, Any] | None:
    """The record `name` on this chain if every `expected` field matches and the code at its
    address is still the code recorded; None otherwise (deploy again)."""
    entry = load_deployments(workdir, chain.chain_id).get(name)
    if entry is None or any(entry.get(key) != value for key, value in expected.items()):
        return None
    if "code_hash" not in entry or code_hash(chain, entry["address"]) != entry["code_hash"]:
        return None
    return entry


def has_code(chain: Chain, address: str) -> bool:
    """True for a well-formed address holding a contract."""
    return Web3.is_address(address) and bool(chain.w3.eth.get_code(Web3.to_checksum_address(address)))
