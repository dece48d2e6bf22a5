"""The one prove body: witness, then proof, then the outputs it proves; and verification.

Every way of proving runs `prove_sample`: `prover prove`, each worker of `prove-batch`,
the measuring child of `bench`/`compare`, the tuner's finalists, a consumer's submission.
They differ only in where the key material is read from (`ProvingFiles`: the circuit's
own folder, or a copy staged in RAM) and in what they do with the result.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover import ezkl_api
from prover.artifacts import CircuitPaths, atomic_path, writable_target, write_json_atomic, writing
from prover.datasets import Dataset, to_input_json
from prover.errors import CircuitError
from prover.owners import owned_temp_dir
from prover.proving.field import felt_from_hex, hex_to_float
from prover.proving.proofs import Proof, proof_bytes


@dataclass(frozen=True)
class ProvingFiles:
    """Where one prover reads its key material, and the facts it needs to report outputs.

    `log` stays the circuit's own ezkl.log even for a staged copy, so a failure's hint
    ("see circuits/<name>/ezkl.log") points where the message is.
    """

    compiled: Path
    pk: Path
    srs: Path
    log: Path
    output_scales: list[int]
    #: where a proof's input and witness are written while it is made: beside the proof by
    #: default; a pool worker's own staging folder in RAM
    scratch: Path | None = None


@dataclass(frozen=True)
class ProofResult:
    proof: Proof
    file_bytes: int
    prove_seconds: float
    outputs: list[list[float]]

    @property
    def proof_path(self) -> Path:
        return self.proof.path

    @property
    def proof_bytes(self) -> int:
        return len(self.proof.raw)


@dataclass(frozen=True)
class VerifyResult:
    """`reason` says why a proof is invalid where halo2's verdict alone would not."""

    valid: bool
    seconds: float
    reason: str | None = None


def rescaled_outputs(witness: dict[str, Any], output_scales: list[int]) -> list[list[float]]:
    """The circuit's outputs as floats, one list per output tensor."""
    return [
        [hex_to_float(felt, scale) for felt in tensor]
        for tensor, scale in zip(witness["outputs"], output_scales, strict=True)
    ]


def witness_for_sample(compiled: Path, sample: Dataset, out: Path, log: Path) -> dict[str, Any]:
    """Witness for one sample (ezkl reads its input from a file); `out` is written atomically."""
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        data = Path(scratch) / "input.json"
        data.write_text(json.dumps(to_input_json(sample)))
        with atomic_path(out) as tmp:
            witness = ezkl_api.gen_witness(data, compiled, tmp, log)
    return witness


def witness_for_dataset(paths: CircuitPaths, sample: Dataset, out: Path) -> dict[str, Any]:
    """A witness of the circuit in `paths` (builds and the tuner judge settings this way)."""
    return witness_for_sample(paths.compiled, sample, out, paths.log)


def prove_sample(files: ProvingFiles, sample: Dataset, proof_out: Path, *, keep_witness: bool = True) -> ProofResult:
    """Witness and proof of one checked sample; the proof is written atomically, the witness
    kept beside it (`<proof stem>.witness.json`, for debugging) unless told otherwise.

    Only the prove call is timed: that is the figure every benchmark compares.
    """
    proof_out = writable_target(Path(proof_out).resolve())
    with (
        writing(proof_out),
        owned_temp_dir(files.scratch or proof_out.parent, "prove") as scratch,
    ):
        witness_path = Path(scratch) / "witness.json"
        witness = witness_for_sample(files.compiled, sample, witness_path, files.log)
        start = time.perf_counter()
        with atomic_path(proof_out) as tmp:
            document = ezkl_api.prove(witness_path, files.compiled, files.pk, tmp, files.srs, files.log)
        seconds = time.perf_counter() - start
        if keep_witness:
            # the witness holds every input in the clear, hashed or private ones too (a
            # borrower's features and salt): readable by its owner only, like the input itself
            os.chmod(witness_path, 0o600)
            os.replace(witness_path, witness_file_for(proof_out))
    proof = Proof(
        proof_out, proof_bytes(document), [[felt_from_hex(felt) for felt in group] for group in document["instances"]]
    )
    return ProofResult(
        proof=proof,
        file_bytes=proof_out.stat().st_size,
        prove_seconds=seconds,
        outputs=rescaled_outputs(witness, files.output_scales),
    )


def witness_file_for(proof: Path) -> Path:
    return proof.with_name(proof.stem + ".witness.json")


def verify_proof(proof: Path, settings: Path, vk: Path, srs: Path, log: Path) -> VerifyResult:
    """ezkl's verifier on a proof already checked for structure."""
    start = time.perf_counter()
    valid = ezkl_api.verify(Path(proof), settings, vk, srs, log)
    return VerifyResult(valid=valid, seconds=time.perf_counter() - start)


#: the rendered Solidity verifier's first check on its input, e.g. `eq(0x0c00, proof.length)`
_LENGTH_CHECK = re.compile(r"eq\((0x[0-9a-fA-F]+), proof\.length\)")


def verifier_proof_length(vk: Path, settings: Path, srs: Path, log: Path) -> int:
    """The exact proof length this vk's Solidity verifier accepts, read from ezkl's rendering.

    ezkl's own verifier reads what it needs and ignores trailing bytes; the on-chain one
    refuses any other length. Off-chain verification checks the length too, so the two
    verdicts agree. Rendering takes tens of milliseconds and needs no compiler.
    """
    with tempfile.TemporaryDirectory(prefix="prover-length-") as scratch:
        sol = Path(scratch) / "Halo2Verifier.sol"
        ezkl_api.render_evm_verifier(vk, settings, sol, srs, False, log)
        match = _LENGTH_CHECK.search(sol.read_text())
    if match is None:
        raise CircuitError("ezkl's Solidity verifier for this vk checks no proof length; cannot mirror it")
    return int(match.group(1), 16)


def write_input(path: Path, sample: Dataset) -> None:
    """Write one sample in ezkl's input format (for users and tests)."""
    write_json_atomic(path, to_input_json(sample))
