"""Witness, prove and verify for one built circuit, with every input check done first.

Checks happen before ezkl sees anything: a bad shape, NaN or out-of-range value is a
one-line InputError, and a proof file is checked for structure before verification so
"not a proof for this circuit" (exit 2) is told apart from "does not verify" (exit 1).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover import ezkl_api
from prover.artifacts import CircuitPaths, Manifest, atomic_path, require_file, write_json_atomic
from prover.errors import ProofFormatError, VersionMismatchError
from prover.inputs import Dataset, check_finite, check_range, load_single_input, to_input_json
from prover.srs import srs_path_for

# BN254 scalar field modulus: every public instance is a field element below it.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
FELT_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ProofResult:
    proof_path: Path
    proof_bytes: int
    file_bytes: int
    prove_seconds: float
    outputs: list[list[float]]


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    seconds: float


def check_ezkl_version(manifest: Manifest) -> None:
    if manifest.ezkl_version != ezkl_api.EZKL_VERSION:
        raise VersionMismatchError(
            f"circuit {manifest.name!r} was built with ezkl {manifest.ezkl_version}, "
            f"this is ezkl {ezkl_api.EZKL_VERSION}",
            hint=f"rebuild with `prover build {manifest.name}` or install ezkl=={manifest.ezkl_version}",
        )


def felt_to_int_le(felt: str) -> int:
    """ezkl writes field elements as 32 little-endian bytes in hex."""
    return int.from_bytes(bytes.fromhex(felt.removeprefix("0x")), "little")


def rescaled_outputs(witness: dict[str, Any], output_scales: list[int]) -> list[list[float]]:
    return [
        [ezkl_api.felt_to_float(felt, scale) for felt in tensor]
        for tensor, scale in zip(witness["outputs"], output_scales, strict=True)
    ]


def witness_for_dataset(paths: CircuitPaths, sample: Dataset, out: Path) -> dict[str, Any]:
    """Witness for one sample; `out` is written atomically."""
    with tempfile.TemporaryDirectory(dir=paths.root) as scratch:
        data = Path(scratch) / "input.json"
        data.write_text(json.dumps(to_input_json(sample)))
        with atomic_path(out) as tmp:
            witness = ezkl_api.gen_witness(data, paths.compiled, tmp, paths.log)
    return witness


def prove(paths: CircuitPaths, manifest: Manifest, input_file: Path, proof_out: Path) -> ProofResult:
    """Check the input, make its witness, prove; nothing is left behind on failure."""
    check_ezkl_version(manifest)
    assert manifest.info is not None and manifest.srs is not None
    for path in (paths.compiled, paths.pk):
        require_file(path, f"prover build {manifest.name}")
    sample = load_single_input(input_file, manifest.info.input_shapes)
    check_finite(sample, str(input_file))
    check_range(sample, manifest.info.input_range, str(input_file))
    srs = srs_path_for(manifest.srs)
    proof_out = Path(proof_out).resolve()
    with tempfile.TemporaryDirectory(dir=paths.root) as scratch:
        witness_path = Path(scratch) / "witness.json"
        witness = witness_for_dataset(paths, sample, witness_path)
        start = time.perf_counter()
        with atomic_path(proof_out) as tmp:
            document = ezkl_api.prove(witness_path, paths.compiled, paths.pk, tmp, srs, paths.log)
        seconds = time.perf_counter() - start
        os.replace(witness_path, paths.witness_for(proof_out))  # kept beside the proof, for debugging
    return ProofResult(
        proof_path=proof_out,
        proof_bytes=len(proof_bytes(document)),
        file_bytes=proof_out.stat().st_size,
        prove_seconds=seconds,
        outputs=rescaled_outputs(witness, manifest.info.output_scales),
    )


def proof_bytes(document: dict[str, Any]) -> bytes:
    raw = document.get("proof")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    if isinstance(raw, str) and re.fullmatch(r"(0x)?([0-9a-fA-F]{2})+", raw):
        return bytes.fromhex(raw.removeprefix("0x"))
    raise ProofFormatError("proof field is missing or not bytes")


def expected_instances(settings: dict[str, Any]) -> int | None:
    """Public instance count for plain public/fixed circuits; None when hashing adds some."""
    run_args = settings["run_args"]
    visibilities = [run_args["input_visibility"], run_args["output_visibility"], run_args["param_visibility"]]
    if any(isinstance(v, dict) or str(v).lower() not in {"public", "private", "fixed"} for v in visibilities):
        return None
    return sum(math.prod(shape) for shape in settings["model_instance_shapes"])


def load_proof(path: Path, paths: CircuitPaths) -> dict[str, Any]:
    """Parse and structurally check a proof file for this circuit (ProofFormatError if not)."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ProofFormatError(f"proof file {path} does not exist", hint="check the path") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ProofFormatError(f"{path} is not a JSON proof file") from None
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
    instances = document["instances"]
    if not isinstance(instances, list) or not all(isinstance(group, list) for group in instances):
        raise ProofFormatError(f"{path}: instances must be a list of lists")
    flat = [felt for group in instances for felt in group]
    for felt in flat:
        if not isinstance(felt, str) or not FELT_HEX.match(felt) or felt_to_int_le(felt) >= FIELD_MODULUS:
            raise ProofFormatError(f"{path}: instance {felt!r} is not a canonical field element")
    settings = json.loads(paths.settings.read_text())
    expected = expected_instances(settings)
    if expected is not None and len(flat) != expected:
        raise ProofFormatError(
            f"{path} has {len(flat)} public instances, circuit {paths.name!r} has {expected}: "
            "it is a proof for another circuit"
        )
    return document


def verify(paths: CircuitPaths, manifest: Manifest, proof_file: Path) -> VerifyResult:
    check_ezkl_version(manifest)
    assert manifest.srs is not None
    require_file(paths.vk, f"prover build {manifest.name}")
    load_proof(proof_file, paths)
    srs = srs_path_for(manifest.srs)
    start = time.perf_counter()
    valid = ezkl_api.verify(Path(proof_file), paths.settings, paths.vk, srs, paths.log)
    return VerifyResult(valid=valid, seconds=time.perf_counter() - start)


def write_input(path: Path, sample: Dataset) -> None:
    """Write one sample in ezkl's input format (for users and tests)."""
    write_json_atomic(path, to_input_json(sample))
