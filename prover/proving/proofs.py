"""A proof file read once: its bytes and its public instances as integers, checked.

Everything downstream (off-chain verification, the Solidity verifier, a consumer's
transaction) takes the parsed `Proof`, so a proof is never re-read or re-decoded on the
way to the chain. Structure is checked before anything verifies it, which is how
"not a proof for this circuit" (exit 2) is told apart from "does not verify" (exit 1).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.errors import DamagedArtifactError, ProofFormatError, first_line
from prover.jsonio import read_json
from prover.proving.field import felt_from_hex, is_canonical_hex

_HEX_BYTES = re.compile(r"(0x)?([0-9a-fA-F]{2})+")


@dataclass(frozen=True)
class Proof:
    """What a verifier needs: the proof bytes and the instances, grouped as ezkl groups them
    (one list per input/param/output tensor with public or hashed visibility)."""

    path: Path
    raw: bytes
    groups: list[list[int]]

    @property
    def instances(self) -> list[int]:
        """Every public instance, flattened in circuit order (what `verifyProof` takes)."""
        return [value for group in self.groups for value in group]


def proof_bytes(document: dict[str, Any]) -> bytes:
    """The `proof` field of ezkl's JSON (a byte list, or hex) as bytes."""
    raw = document.get("proof")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    if isinstance(raw, str) and _HEX_BYTES.fullmatch(raw):
        return bytes.fromhex(raw.removeprefix("0x"))
    raise ProofFormatError("proof field is missing or not bytes")


def expected_instances(settings: dict[str, Any]) -> int | None:
    """Public instance count for plain public/fixed circuits; None when hashing adds some."""
    run_args = settings["run_args"]
    visibilities = [run_args["input_visibility"], run_args["output_visibility"], run_args["param_visibility"]]
    if any(isinstance(v, dict) or str(v).lower() not in {"public", "private", "fixed"} for v in visibilities):
        return None
    return sum(math.prod(shape) for shape in settings["model_instance_shapes"])


def settings_instances(path: Path, circuit_name: str) -> int | None:
    """`expected_instances` of a circuit's settings.json; a deleted, emptied or edited file is
    an error (exit 2): a verdict against it would say nothing about the proof."""
    hint = f"rebuild with `prover build {circuit_name}`"
    settings = read_json(path, f"settings of circuit {circuit_name!r}", DamagedArtifactError, hint)
    try:
        return expected_instances(settings)
    except (KeyError, TypeError, AttributeError) as exc:
        detail = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else first_line(exc)
        raise DamagedArtifactError(f"{path} is not ezkl settings ({detail})", hint=hint) from None


def read_proof(path: Path, settings: Path, circuit_name: str) -> Proof:
    """Parse and structurally check a proof file for one circuit (ProofFormatError if not)."""
    path = Path(path)
    document = read_json(path, "proof file", ProofFormatError)
    if not isinstance(document, dict) or "instances" not in document:
        raise ProofFormatError(f"{path} is not an ezkl proof (no instances)")
    raw = proof_bytes(document)
    hex_proof = document.get("hex_proof")
    if isinstance(hex_proof, str):
        try:
            decoded = bytes.fromhex(hex_proof.removeprefix("0x"))
        except ValueError:
            raise ProofFormatError(f"{path}: hex_proof is not a hex string") from None
        if decoded != raw:
            raise ProofFormatError(f"{path} is corrupt: its proof and hex_proof fields differ")
    groups = document["instances"]
    if not isinstance(groups, list) or not all(isinstance(group, list) for group in groups):
        raise ProofFormatError(f"{path}: instances must be a list of lists")
    for felt in (felt for group in groups for felt in group):
        if not is_canonical_hex(felt):
            raise ProofFormatError(f"{path}: instance {felt!r} is not a canonical field element")
    proof = Proof(path, raw, [[felt_from_hex(felt) for felt in group] for group in groups])
    expected = settings_instances(Path(settings), circuit_name)
    if expected is not None and len(proof.instances) != expected:
        raise ProofFormatError(
            f"{path} has {len(proof.instances)} public instances, circuit {circuit_name!r} has {expected}: "
            "it is a proof for another circuit"
        )
    return proof
