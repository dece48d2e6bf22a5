"""The model registry from Python: deploy it, register a built circuit, audit it, manage access.

A registered version carries the hashes of every artifact of one build. `audit` recomputes
each of them from the files on disk now (not from the manifest, which is itself a file a
tamperer could edit) and compares them with the chain, field by field, so a third party
finds any alteration and which artifact it touched.

Where things are recorded, per chain in `deployments/<chainId>.json`: the registry under
"ModelRegistry", and under "<name>.model" the model id this workdir registered NAME as and
the versions it added.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from prover import ezkl_api
from prover.artifacts import CircuitPaths, Manifest, sha256_file
from prover.chain import Chain, call, contract_at, deploy, transact
from prover.deployments import load_deployments, record_deployment
from prover.errors import ChainError, ProverError
from prover.inputs import load_dataset, sample
from prover.onchain import deploy_verifier, deployed_verifier
from prover.proving import witness_for_dataset
from prover.solc import compile_project_contracts, load_artifact
from prover.verifier import compile_verifier, render_verifier

REGISTRY_KEY = "ModelRegistry"
ZERO32 = b"\x00" * 32


def model_key(name: str) -> str:
    return f"{name}.model"


@dataclass(frozen=True)
class Registration:
    registry: str
    model_id: int
    version: int
    parent: int
    verifier: str
    create_gas: int | None  # None when the model already existed
    register_gas: int


@dataclass(frozen=True)
class AuditRow:
    field: str
    onchain: str
    local: str

    @property
    def matches(self) -> bool:
        return self.onchain == self.local


@dataclass(frozen=True)
class AuditReport:
    model_id: int
    version: int
    revoked: bool
    registered_at: int
    parent: int
    rows: list[AuditRow]

    @property
    def mismatched(self) -> list[str]:
        return [row.field for row in self.rows if not row.matches]


def _artifact(workdir: Path) -> dict[str, Any]:
    return compile_project_contracts(workdir / "out")["ModelRegistry"].artifact()


def open_registry(chain: Chain, workdir: Path, address: str | None = None, *, deploy_if_missing: bool = False) -> Any:
    """The registry at `address`, else the one recorded for this chain (deployed on first use
    when `deploy_if_missing`). A recorded address whose code changed (a restarted dev chain)
    is not trusted."""
    if address is not None:
        if not Web3.is_address(address) or not chain.w3.eth.get_code(Web3.to_checksum_address(address)):
            raise ChainError(f"no contract at --registry {address} on chain {chain.chain_id}")
        return contract_at(chain, Web3.to_checksum_address(address), _artifact(workdir)["abi"])
    entry = load_deployments(workdir, chain.chain_id).get(REGISTRY_KEY)
    if entry is not None and Web3.keccak(chain.w3.eth.get_code(entry["address"])).hex() == entry["code_hash"]:
        artifact = load_artifact(workdir / "out" / "ModelRegistry.json", "prover register")
        return contract_at(chain, entry["address"], artifact["abi"])
    if not deploy_if_missing:
        raise ChainError(f"no model registry recorded for chain {chain.chain_id}",
                         hint="run `prover register NAME` first, or pass --registry ADDRESS")
    artifact = _artifact(workdir)
    result = deploy(chain, artifact)
    record_deployment(workdir, chain.chain_id, REGISTRY_KEY, {
        "address": result.address, "gas_used": result.gas_used,
        "code_hash": Web3.keccak(chain.w3.eth.get_code(result.address)).hex(),
    })
    return contract_at(chain, result.address, artifact["abi"])


def dataset_file(paths: CircuitPaths) -> Path:
    """What `datasetHash` covers: the training data a reference model trained on, or (for
    a model built from your ONNX, whose training we never saw) its calibration data."""
    return paths.training_data if paths.training_data.exists() else paths.calibration


def params_commitment(paths: CircuitPaths, manifest: Manifest) -> bytes:
    """The Poseidon hash of the weights when they are `hashed` (a public instance of every
    proof), read from a witness; 32 zero bytes when they are fixed in the vk."""
    if manifest.config.param_visibility != "hashed":
        return ZERO32
    assert manifest.info is not None
    calibration = load_dataset(paths.calibration, manifest.info.input_shapes)
    with tempfile.TemporaryDirectory(dir=paths.root) as scratch:
        witness = witness_for_dataset(paths, sample(calibration, 0), Path(scratch) / "witness.json")
    felt = witness["processed_params"]["poseidon_hash"][0]
    return ezkl_api.felt_to_int(felt).to_bytes(32, "big")


def _file_hash(path: Path) -> bytes:
    """sha256 of a file as bytes32; 32 zero bytes for a file that does not exist."""
    return bytes.fromhex(sha256_file(path)) if path.exists() else ZERO32


def local_fields(paths: CircuitPaths, manifest: Manifest) -> dict[str, bytes | str]:
    """Every artifact field of a version, recomputed from the files on disk now."""
    assert manifest.srs is not None
    return {
        "onnxHash": _file_hash(paths.onnx),
        "datasetHash": _file_hash(dataset_file(paths)),
        "settingsHash": _file_hash(paths.settings),
        "circuitHash": _file_hash(paths.compiled),
        "vkHash": _file_hash(paths.vk),
        "srsHash": _file_hash(Path(manifest.srs.path)),
        "lineageHash": _file_hash(paths.lineage),
        "paramsCommitment": params_commitment(paths, manifest),
        "ezklVersion": manifest.ezkl_version,
    }


def _event_args(contract: Any, event: str, receipt: Any) -> dict[str, Any]:
    logs = getattr(contract.events, event)().process_receipt(receipt)
    if not logs:
        raise ChainError(f"the registry emitted no {event}")
    return dict(logs[0]["args"])


def register(chain: Chain, registry: Any, paths: CircuitPaths, manifest: Manifest, *,
             parent: int | None = None, verifier: str | None = None) -> Registration:
    """Register the built circuit as the next version of its model (created on first use).

    The verifier is this circuit's own deployed verifier (deployed now if this chain has
    none for its vk). `parent` defaults to the model's latest version (0 for the first).
    """
    workdir = paths.workdir
    verifier = verifier or deployed_verifier(chain, paths, manifest) or deploy_verifier(chain, paths, manifest).address
    entry = load_deployments(workdir, chain.chain_id).get(model_key(paths.name))
    create_gas = None
    if entry is None or entry.get("registry") != registry.address:
        receipt = transact(chain, registry, "createModel", paths.name)
        entry = {"registry": registry.address, "model_id": int(_event_args(registry, "ModelCreated", receipt)["modelId"]),
                 "versions": {}}
        create_gas = int(receipt["gasUsed"])
        record_deployment(workdir, chain.chain_id, model_key(paths.name), entry)
    model_id = int(entry["model_id"])
    chosen_parent = parent if parent is not None else int(call(chain, registry, "getModel", model_id)[3])
    fields = local_fields(paths, manifest)
    version_input = (
        Web3.to_checksum_address(verifier), ZERO32, fields["paramsCommitment"], chosen_parent, fields["onnxHash"],
        fields["datasetHash"], fields["settingsHash"], fields["circuitHash"], fields["vkHash"], fields["srsHash"],
        fields["lineageHash"], fields["ezklVersion"],
    )
    receipt = transact(chain, registry, "addVersion", model_id, version_input)
    version = int(_event_args(registry, "VersionAdded", receipt)["version"])
    entry["versions"][str(version)] = {"verifier": verifier, "parent": chosen_parent,
                                       "vk_sha256": manifest.files["vk"].sha256, "gas_used": int(receipt["gasUsed"])}
    record_deployment(workdir, chain.chain_id, model_key(paths.name), entry)
    return Registration(registry.address, model_id, version, chosen_parent, verifier, create_gas,
                        int(receipt["gasUsed"]))


def registered_model(chain: Chain, paths: CircuitPaths, registry: Any, version: int | None = None,
                     model_id: int | None = None) -> tuple[int, int]:
    """(model id, version): `model_id` as given (a third party auditing someone else's
    registration), else the one this workdir registered NAME as; `version`, else the
    model's latest on chain."""
    if model_id is None:
        entry = load_deployments(paths.workdir, chain.chain_id).get(model_key(paths.name))
        if entry is None or entry.get("registry") != registry.address:
            raise ProverError(f"{paths.name!r} is not registered in registry {registry.address} on chain "
                              f"{chain.chain_id} from this workdir",
                              hint=f"run `prover register {paths.name}`, or name the model with --model ID")
        model_id = int(entry["model_id"])
    latest = int(call(chain, registry, "getModel", model_id)[3])
    if latest == 0:
        raise ProverError(f"model {model_id} has no versions in registry {registry.address}")
    return model_id, version if version is not None else latest


def adopt_model(chain: Chain, registry: Any, paths: CircuitPaths, model_id: int) -> int:
    """Accept a model offered to this account and record it for this workdir, so the next
    `register` adds versions to it; returns the gas used."""
    receipt = transact(chain, registry, "acceptOwnership", model_id)
    if REGISTRY_KEY not in load_deployments(paths.workdir, chain.chain_id):  # later commands use it by default
        record_deployment(paths.workdir, chain.chain_id, REGISTRY_KEY, {
            "address": registry.address, "code_hash": Web3.keccak(chain.w3.eth.get_code(registry.address)).hex()})
    record_deployment(paths.workdir, chain.chain_id, model_key(paths.name),
                      {"registry": registry.address, "model_id": model_id, "versions": {}})
    return int(receipt["gasUsed"])


def _shown(value: bytes | str | int) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def audit(chain: Chain, registry: Any, paths: CircuitPaths, manifest: Manifest, model_id: int,
          version: int) -> AuditReport:
    """Every field of the on-chain record against the same field recomputed locally."""
    onchain = version_record(chain, registry, model_id, version)
    rows = [AuditRow(field, _shown(onchain[field]), _shown(value))
            for field, value in local_fields(paths, manifest).items()]
    rows.append(AuditRow("verifier code", _shown(Web3.keccak(chain.w3.eth.get_code(onchain["verifier"]))),
                         _shown(_local_verifier_code_hash(paths, manifest))))
    return AuditReport(model_id, version, bool(onchain["revoked"]), int(onchain["registeredAt"]),
                       int(onchain["parent"]), rows)


def version_record(chain: Chain, registry: Any, model_id: int, version: int) -> dict[str, Any]:
    """`getVersion` as a dict keyed by the struct's field names (from the ABI)."""
    record = call(chain, registry, "getVersion", model_id, version)
    outputs = next(entry for entry in registry.abi if entry.get("name") == "getVersion")["outputs"]
    return dict(zip([item["name"] for item in outputs[0]["components"]], record, strict=True))


def _local_verifier_code_hash(paths: CircuitPaths, manifest: Manifest) -> bytes:
    """keccak of the runtime code the local vk's verifier compiles to: equal to the code at
    the registered address exactly when that contract verifies this vk."""
    assert manifest.srs is not None
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "Halo2Verifier.sol"
        render_verifier(paths, manifest.srs, source, reusable=False)
        compiled = compile_verifier(source, "Halo2Verifier")
    return bytes(Web3.keccak(hexstr=compiled.deployed_bytecode))


def read_lineage(chain: Chain, registry: Any, model_id: int, version: int) -> list[int]:
    """Version numbers from `version` back to its root, following `parent` on chain."""
    chain_of_versions = [version]
    while True:
        parent = int(version_record(chain, registry, model_id, chain_of_versions[-1])["parent"])
        if parent == 0:
            return chain_of_versions
        chain_of_versions.append(parent)


def describe(report: AuditReport) -> dict[str, Any]:
    """The report as JSON-able data for `--json`."""
    return {"model_id": report.model_id, "version": report.version, "revoked": report.revoked,
            "registered_at": report.registered_at, "parent": report.parent,
            "fields": [{"field": r.field, "onchain": r.onchain, "local": r.local, "match": r.matches}
                       for r in report.rows],
            "mismatched": report.mismatched}


