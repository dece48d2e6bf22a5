"""The on-chain ModelRegistry from Python: find or deploy it, read its records, find a model.

Where things are recorded, per chain in `deployments/<chainId>.json`: the registry under
"ModelRegistry", and under "<name>.model" the model id this workdir registered NAME as
and the versions it added. The registry a workdir deploys is also recorded for the chain
(`prover.registry.home`), so every other workdir on that chain uses the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.types import BlockIdentifier

from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call, contract_at, deploy
from prover.evm.deployments import (
    code_hash,
    has_code,
    load_deployments,
    record_contract,
    record_deployment,
    trusted,
)
from prover.evm.solc import compile_project_contracts, load_artifact
from prover.registry.home import REGISTRY_KEY, chain_registry, chain_registry_or_deploy


def model_key(name: str) -> str:
    """The deployment record's key for the model a workdir registered circuit `name` as."""
    return f"{name}.model"


def _artifact(workdir: Path) -> dict[str, Any]:
    return compile_project_contracts(workdir / "out")["ModelRegistry"].artifact()


def _abi(workdir: Path) -> list[dict[str, Any]]:
    """The registry's ABI: the workdir's compiled artifact if there is one, else compiled now."""
    compiled = workdir / "out" / "ModelRegistry.json"
    return list((load_artifact(compiled, "prover register") if compiled.exists() else _artifact(workdir))["abi"])


def open_registry(chain: Chain, workdir: Path, address: str | None = None, *, deploy_if_missing: bool = False) -> Any:
    """The registry at `address`; else the one this workdir recorded for this chain; else
    the chain's (`prover.registry.home`, the one every workdir shares); else, when
    `deploy_if_missing`, one deployed now and recorded for both. A recorded address whose
    code changed (a restarted dev chain) is never used."""
    if address is not None:
        if not has_code(chain, address):
            raise ChainError(f"no contract at --registry {address} on chain {chain.chain_id}")
        return contract_at(chain, Web3.to_checksum_address(address), _abi(workdir))
    entry = trusted(chain, workdir, REGISTRY_KEY) or chain_registry(chain)
    if entry is None and deploy_if_missing:

        def deploy_one() -> dict[str, Any]:
            artifact = _artifact(workdir)
            return record_contract(chain, workdir, REGISTRY_KEY, deploy(chain, artifact), artifact)

        entry = chain_registry_or_deploy(chain, deploy_one)
    if entry is None:
        raise ChainError(
            f"no model registry recorded for chain {chain.chain_id}",
            hint="run `prover register NAME` first, or pass --registry ADDRESS",
        )
    return contract_at(chain, entry["address"], _abi(workdir))


def remember_registry(chain: Chain, workdir: Path, registry: Any) -> None:
    """Make `registry` this workdir's default on this chain unless it already has one whose
    code is still there. The chain's record of it (who deployed it, when, with which
    compiler) is copied when it is that registry; its ABI is written beside the record."""
    if trusted(chain, workdir, REGISTRY_KEY) is not None:
        return
    shared = chain_registry(chain)
    if shared is None or shared.get("address") != registry.address:
        shared = {
            "address": registry.address,
            "contract": "ModelRegistry",
            "code_hash": code_hash(chain, registry.address),
        }
    record_deployment(workdir, chain, REGISTRY_KEY, shared, list(registry.abi))


def model_record(chain: Chain, workdir: Path, name: str) -> dict[str, Any] | None:
    """What this workdir recorded about circuit `name`'s model on this chain: the registry,
    the model id, and the versions it added; None before its first `register` or `accept`."""
    entry = load_deployments(workdir, chain).get(model_key(name))
    return dict(entry) if entry else None


def live_model_record(chain: Chain, registry: Any, workdir: Path, name: str) -> dict[str, Any] | None:
    """The model record of circuit `name` in `registry`, if that registry still knows the
    model. A restarted dev chain hands out the same addresses and model ids again, so a
    record of a model that is gone (a second `prover demo`) must not be trusted."""
    entry = model_record(chain, workdir, name)
    if entry is None or entry.get("registry") != registry.address:
        return None
    return entry if int(call(chain, registry, "modelCount")) >= int(entry["model_id"]) else None


def registry_of(chain: Chain, workdir: Path, name: str) -> str | None:
    """The registry this workdir registered circuit `name` in on this chain, if it is still there."""
    entry = model_record(chain, workdir, name)
    return str(entry["registry"]) if entry and has_code(chain, str(entry["registry"])) else None


def version_record(
    chain: Chain, registry: Any, model_id: int, version: int, block: BlockIdentifier = "latest"
) -> dict[str, Any]:
    """`getVersion` as a dict keyed by the struct's field names (from the ABI)."""
    record = call(chain, registry, "getVersion", model_id, version, block=block)
    outputs = next(entry for entry in registry.abi if entry.get("name") == "getVersion")["outputs"]
    return dict(zip([item["name"] for item in outputs[0]["components"]], record, strict=True))


def latest_version(chain: Chain, registry: Any, model_id: int) -> int:
    """The model's newest version number (0 before its first)."""
    return int(call(chain, registry, "getModel", model_id)[3])


def read_lineage(chain: Chain, registry: Any, model_id: int, version: int) -> list[int]:
    """Version numbers from `version` back to its root, following `parent` on chain."""
    chain_of_versions = [version]
    while True:
        parent = int(version_record(chain, registry, model_id, chain_of_versions[-1])["parent"])
        if parent == 0:
            return chain_of_versions
        chain_of_versions.append(parent)


@dataclass(frozen=True)
class ModelRef:
    """A model in a registry, and the version a command acts on."""

    registry: Any
    model_id: int
    version: int


def find_model(
    chain: Chain, registry: Any, workdir: Path, name: str, *, model_id: int | None = None, version: int | None = None
) -> ModelRef:
    """`model_id` as given (a third party acting on someone else's registration), else the
    one this workdir registered NAME as; `version`, else the model's latest on chain."""
    if model_id is None:
        entry = live_model_record(chain, registry, workdir, name)
        if entry is None:
            raise ProverError(
                f"{name!r} is not registered in registry {registry.address} on chain "
                f"{chain.chain_id} from this workdir",
                hint=f"run `prover register {name}`, or name the model with --model ID",
            )
        model_id = int(entry["model_id"])
    latest = latest_version(chain, registry, model_id)
    if latest == 0:
        raise ProverError(f"model {model_id} has no versions in registry {registry.address}")
    return ModelRef(registry, model_id, version if version is not None else latest)
