"""Who may use a model, and who owns it: the registry's owner-only writes as library calls.

Each function sends the transactions one change needs and returns the gas they used, so
the CLI, a notebook or a script manage a model the same way; a refusal (not the owner,
already revoked) is a `TransactionReverted` naming the registry's custom error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from web3 import Web3

from prover.errors import ProverError
from prover.evm.client import Chain, transact
from prover.evm.deployments import record_deployment
from prover.registry.contract import model_key, remember_registry


def checked_addresses(accounts: Sequence[str]) -> list[str]:
    """Checksummed addresses, or a one-line error naming the first malformed one."""
    for account in accounts:
        if not Web3.is_address(account):
            raise ProverError(f"{account!r} is not an address", hint="0x followed by 40 hex digits")
    return [Web3.to_checksum_address(account) for account in accounts]


def _gas(chain: Chain, registry: Any, function: str, *args: Any) -> int:
    return int(transact(chain, registry, function, *args)["gasUsed"])


def revoke(chain: Chain, registry: Any, model_id: int, version: int) -> int:
    """Revoke a version for good: consumers with the registry check refuse its proofs."""
    return _gas(chain, registry, "revokeVersion", model_id, version)


def allow(chain: Chain, registry: Any, model_id: int, accounts: Sequence[str]) -> int:
    """Add accounts to the allowlist and restrict the model to it."""
    gas = _gas(chain, registry, "setAllowed", model_id, checked_addresses(accounts), True)
    return gas + _gas(chain, registry, "setAccessRestricted", model_id, True)


def disallow(chain: Chain, registry: Any, model_id: int, accounts: Sequence[str]) -> int:
    """Take accounts off the allowlist (and restrict the model to the allowlist)."""
    gas = _gas(chain, registry, "setAllowed", model_id, checked_addresses(accounts), False)
    return gas + _gas(chain, registry, "setAccessRestricted", model_id, True)


def open_to_everyone(chain: Chain, registry: Any, model_id: int) -> int:
    """Lift the restriction: anyone may use the model (the allowlist is kept for later)."""
    return _gas(chain, registry, "setAccessRestricted", model_id, False)


def transfer(chain: Chain, registry: Any, model_id: int, new_owner: str) -> int:
    """Offer the model to `new_owner`; it becomes the owner only when it accepts."""
    (checked,) = checked_addresses([new_owner])
    return _gas(chain, registry, "transferOwnership", model_id, checked)


def accept(chain: Chain, registry: Any, workdir: Path, name: str, model_id: int) -> int:
    """Accept a model offered to this account and record it for this workdir's circuit
    `name`, so its next `register` adds versions to it."""
    gas = _gas(chain, registry, "acceptOwnership", model_id)
    remember_registry(chain, workdir, registry)  # later commands use it by default
    record_deployment(
        workdir, chain, model_key(name), {"registry": registry.address, "model_id": model_id, "versions": {}}
    )
    return gas
