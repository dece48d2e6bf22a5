"""Register a built circuit as a model version, and audit a registration against the files.

A registered version carries the hashes of every artifact of one build. `audit` recomputes
each of them from the files on disk now (not from the manifest, which is itself a file a
tamperer could edit) and compares them with the chain, field by field, so a third party
finds any alteration and which artifact it touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from prover.artifacts import sha256_file
from prover.datasets import load_dataset, sample
from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call, transact
from prover.evm.deployments import code_hash, record_deployment
from prover.evm.verifier import ensure_verifier, verifier_code_hash
from prover.owners import owned_temp_dir
from prover.proving.circuit import Circuit
from prover.proving.field import felt_from_hex
from prover.proving.prove import witness_for_dataset
from prover.registry.contract import (
    latest_version,
    live_model_record,
    model_key,
    remember_registry,
    version_record,
)

ZERO32 = b"\x00" * 32


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

    def describe(self) -> dict[str, Any]:
        """The report as JSON-able data for `--json`."""
        return {
            "model_id": self.model_id,
            "version": self.version,
            "revoked": self.revoked,
            "registered_at": self.registered_at,
            "parent": self.parent,
            "fields": [
                {"field": r.field, "onchain": r.onchain, "local": r.local, "match": r.matches} for r in self.rows
            ],
            "mismatched": self.mismatched,
        }


def dataset_file(circuit: Circuit) -> Path:
    """What `datasetHash` covers: the training data a reference model trained on, or (for
    a model built from your ONNX, whose training we never saw) its calibration data."""
    paths = circuit.paths
    return paths.training_data if paths.training_data.exists() else paths.calibration


def params_commitment(circuit: Circuit) -> bytes:
    """The Poseidon hash of the weights when they are `hashed` (a public instance of every
    proof), read from a witness as the full field element; 32 zero bytes when they are
    fixed in the vk."""
    if circuit.manifest.config.param_visibility != "hashed":
        return ZERO32
    calibration = load_dataset(circuit.paths.calibration, circuit.info.input_shapes)
    with owned_temp_dir(circuit.paths.root, "commitment") as scratch:
        witness = witness_for_dataset(circuit.paths, sample(calibration, 0), scratch / "witness.json")
    return felt_from_hex(witness["processed_params"]["poseidon_hash"][0]).to_bytes(32, "big")


def _file_hash(path: Path) -> bytes:
    """sha256 of a file as bytes32; 32 zero bytes for a file that does not exist."""
    return bytes.fromhex(sha256_file(path)) if path.exists() else ZERO32


def local_fields(circuit: Circuit) -> dict[str, bytes | str]:
    """Every artifact field of a version, recomputed from the files on disk now."""
    paths = circuit.paths
    return {
        "onnxHash": _file_hash(paths.onnx),
        "datasetHash": _file_hash(dataset_file(circuit)),
        "settingsHash": _file_hash(paths.settings),
        "circuitHash": _file_hash(paths.compiled),
        "vkHash": _file_hash(paths.vk),
        "srsHash": _file_hash(Path(circuit.srs.path)),
        "lineageHash": _file_hash(paths.lineage),
        "paramsCommitment": params_commitment(circuit),
        "ezklVersion": circuit.manifest.ezkl_version,
    }


def _event_args(contract: Any, event: str, receipt: Any) -> dict[str, Any]:
    logs = getattr(contract.events, event)().process_receipt(receipt)
    if not logs:
        raise ChainError(f"the registry emitted no {event}")
    return dict(logs[0]["args"])


def _checked_owner_and_latest(chain: Chain, registry: Any, entry: dict[str, Any] | None) -> int:
    """The latest version of the workdir's model (0 for a model not created yet), after
    checking that this account still owns it, so a refusal costs no transaction."""
    if entry is None:
        return 0
    model_id = int(entry["model_id"])
    owner, _, _, latest, _ = call(chain, registry, "getModel", model_id)
    if str(owner).lower() != chain.address.lower():
        raise ProverError(
            f"model {model_id} in registry {registry.address} is owned by {owner}, not {chain.address}",
            hint="sign with the owner's key (--private-key), or `prover accept` a transfer first",
        )
    return int(latest)


def register(
    chain: Chain, registry: Any, circuit: Circuit, *, parent: int | None = None, verifier: str | None = None
) -> Registration:
    """Register the built circuit as the next version of its model (created on first use).

    The verifier is this circuit's own deployed verifier (deployed now if this chain has
    none for its vk). `parent` defaults to the model's latest version (0 for the first).
    """
    workdir, name = circuit.workdir, circuit.name
    entry = live_model_record(chain, registry, workdir, name)
    latest = _checked_owner_and_latest(chain, registry, entry)
    if parent is not None and not 0 <= parent <= latest:
        raise ProverError(
            f"--parent {parent} is not a version of {name!r}'s model (it has {latest})",
            hint=f"pass 0 (no parent) to {latest}, or leave --parent out for the latest",
        )
    fields = local_fields(circuit)  # everything checked and hashed before the first transaction
    verifier = verifier or ensure_verifier(chain, circuit).address
    create_gas = None
    if entry is None:
        receipt = transact(chain, registry, "createModel", name)
        entry = {
            "registry": registry.address,
            "model_id": int(_event_args(registry, "ModelCreated", receipt)["modelId"]),
            "versions": {},
        }
        create_gas = int(receipt["gasUsed"])
        record_deployment(workdir, chain, model_key(name), entry)
    model_id = int(entry["model_id"])
    chosen_parent = parent if parent is not None else latest
    version_input = (
        Web3.to_checksum_address(verifier),
        ZERO32,
        fields["paramsCommitment"],
        chosen_parent,
        fields["onnxHash"],
        fields["datasetHash"],
        fields["settingsHash"],
        fields["circuitHash"],
        fields["vkHash"],
        fields["srsHash"],
        fields["lineageHash"],
        fields["ezklVersion"],
    )
    receipt = transact(chain, registry, "addVersion", model_id, version_input)
    version = int(_event_args(registry, "VersionAdded", receipt)["version"])
    entry["versions"][str(version)] = {
        "verifier": verifier,
        "parent": chosen_parent,
        "vk_sha256": circuit.manifest.files["vk"].sha256,
        "circuit": name,  # what proves for this version (a keeper serving the model looks it up)
        "batch": circuit.manifest.batch,  # inferences per proof
        "gas_used": int(receipt["gasUsed"]),
    }
    record_deployment(workdir, chain, model_key(name), entry)
    remember_registry(chain, workdir, registry)  # later commands (revoke, allow, ...) use it by default
    return Registration(
        registry.address, model_id, version, chosen_parent, verifier, create_gas, int(receipt["gasUsed"])
    )


def active_version_for(chain: Chain, registry: Any, model_id: int, circuit: Circuit) -> tuple[int, str]:
    """The newest active version of model `model_id` that this build is: same vk hash and
    weights commitment, verified by a contract whose code is this vk's verifier. A consumer
    deployed for this build pins that version's verifier, so `deploy` agrees with what
    `register` recorded whichever ran first, and in whichever workdir."""
    vk_hash = bytes.fromhex(circuit.manifest.files["vk"].sha256)
    commitment = params_commitment(circuit)
    code = "0x" + verifier_code_hash(circuit).hex()
    for version in range(latest_version(chain, registry, model_id), 0, -1):
        record = version_record(chain, registry, model_id, version)
        if (
            not record["revoked"]
            and bytes(record["vkHash"]) == vk_hash
            and bytes(record["paramsCommitment"]) == commitment
            and bytes(record["vkaDigest"]) == ZERO32
            and "0x" + code_hash(chain, record["verifier"]).removeprefix("0x") == code
        ):
            return version, Web3.to_checksum_address(record["verifier"])
    raise ProverError(
        f"model {model_id} in registry {registry.address} has no active version for this build of "
        f"{circuit.name!r} (vk {vk_hash.hex()[:12]}…)",
        hint=f"run `prover register {circuit.name}` first: it registers this build's verifier",
    )


def _shown(value: bytes | str | int) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def audit(chain: Chain, registry: Any, circuit: Circuit, model_id: int, version: int) -> AuditReport:
    """Every field of the on-chain record against the same field recomputed locally."""
    onchain = version_record(chain, registry, model_id, version)
    rows = [AuditRow(field, _shown(onchain[field]), _shown(value)) for field, value in local_fields(circuit).items()]
    rows.append(
        AuditRow(
            "verifier code",
            "0x" + code_hash(chain, onchain["verifier"]).removeprefix("0x"),
            _shown(verifier_code_hash(circuit)),
        )
    )
    return AuditReport(
        model_id, version, bool(onchain["revoked"]), int(onchain["registeredAt"]), int(onchain["parent"]), rows
    )
