"""The on-chain ModelRegistry from Python: find or deploy it, read its records, find a model.

Where things are recorded, per chain in `deployments/<chainId>.json`: the registry under
"ModelRegistry", and under "<name>.model" the model id this workdir registered NAME as
and the versions it added.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.types import BlockIdentifier

from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call, contract_at, deploy
from prover.evm.deployments import code_hash, has_code, load_deployments, record_contract, record_deployment, trusted
from prover.evm.solc import compile_project_contracts, load_artifact

REGISTRY_KEY = "ModelRegistry"


def model_key(name: str) -> str:
    """The deployment record's key for the model a workdir registered circuit `name` as."""
    return f"{name}.model"


def _artifact(workdir: Path) -> dict[str, Any]:
    return compile_project_contracts(workdir / "out")["ModelRegistry"].artifact()


def open_registry(chain: Chain, workdir: Path, address: str | None = None, *, deploy_if_missing: bool = False) -> Any:
    """The registry at `address`, else the one recorded for this chain (deployed on first use
    when `deploy_if_missing`). A recorded address whose code changed (a restarted dev chain)
    is not trusted."""
    if address is not None:
        if not has_code(chain, address):
            raise ChainError(f"no contract at --registry {address} on chain {chain.chain_id}")
        return contract_at(chain, Web3.to_checksum_address(address), _artifact(workdir)["abi"])
    entry = trusted(chain, workdir, REGISTRY_KEY)
    if entry is not None:
        artifact = load_artifact(workdir / "out" / "ModelRegistry.json", "prover register")
        return contract_at(chain, entry["address"], artifact["abi"])
    if not deploy_if_missing:
        raise ChainError(
            f"no model registry recorded for chain {chain.chain_id}",
            hint="run `prover register NAME` first, or pass --registry ADDRESS",
        )
    artifact = _artifact(workdir)
    deployed = deploy(chain, artifact)
    record_contract(chain, workdir, REGISTRY_KEY, deployed, artifact)
    return contract_at(chain, deployed.address, artifact["abi"])


def remember_registry(chain: Chain, workdir: Path, registry: Any) -> None:
    """Make `registry` this workdir's default on this chain unless it already has one."""
    if REGISTRY_KEY not in load_deployments(workdir, chain):
        record_deployment(
            workdir,
            chain,
            REGISTRY_KEY,
            {"address": registry.address, "code_hash": code_hash(chain, registry.address)},
        )


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
