"""Where deployed contracts are recorded: `<workdir>/deployments/<chainId>.json`.

One file per chain so a local dev chain (31337, gitignored) never mixes with a real one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prover.artifacts import write_json_atomic
from prover.errors import ChainError


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
        raise ChainError(f"deployment record {path} is unreadable ({type(exc).__name__})",
                         hint="move it aside; the next deploy writes a fresh one") from None
    return contracts


def record_deployment(workdir: Path, chain_id: int, name: str, entry: dict[str, Any]) -> Path:
    """Add or replace one contract's entry, keeping the others; written atomically."""
    contracts = load_deployments(workdir, chain_id)
    contracts[name] = entry
    path = deployments_path(workdir, chain_id)
    write_json_atomic(path, {"chainId": int(chain_id), "contracts": dict(sorted(contracts.items()))})
    return path
