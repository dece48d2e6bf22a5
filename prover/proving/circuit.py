"""A built circuit as one handle: `open_circuit(name, workdir)` then `.prove()`, `.verify()`.

The handle checks once what every use needs (the manifest is complete, the ezkl version
matches, the SRS the keys were made with is unchanged) and does every input check before
ezkl sees a value: a bad shape, NaN or out-of-range value is a one-line InputError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover import ezkl_api
from prover.artifacts import (
    CircuitInfo,
    CircuitPaths,
    Manifest,
    SrsRecord,
    circuit_paths,
    load_manifest,
    require_file,
    sha256_file,
)
from prover.datasets import Dataset, check_finite, check_kinds, check_range, load_single_input
from prover.errors import CircuitError, ProverError, SrsError, VersionMismatchError
from prover.proving.proofs import Proof, read_proof
from prover.proving.prove import (
    ProofResult,
    ProvingFiles,
    VerifyResult,
    prove_sample,
    verifier_proof_length,
    verify_proof,
)


def recorded_srs(record: SrsRecord) -> Path:
    """The SRS the keys were made with, checked unchanged: keys made with one SRS fail with another."""
    path = Path(record.path)
    if not path.exists():
        made_by = "prover build" + (" --srs PATH" if record.kind == "supplied" else "")
        raise SrsError(f"SRS {path} is gone", hint=f"rerun `{made_by}` (keys will be redone)")
    if path.stat().st_size and sha256_file(path) != record.sha256:
        raise SrsError(f"SRS {path} changed since the keys were made", hint="rerun `prover build` to redo setup")
    return path


@dataclass(frozen=True)
class Circuit:
    """A fully built circuit: its files (`paths`) and what the build recorded (`manifest`)."""

    paths: CircuitPaths
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.paths.name

    @property
    def workdir(self) -> Path:
        return self.paths.workdir

    @property
    def info(self) -> CircuitInfo:
        assert self.manifest.info is not None  # open_circuit refuses a circuit without it
        return self.manifest.info

    @property
    def srs(self) -> SrsRecord:
        assert self.manifest.srs is not None
        return self.manifest.srs

    @property
    def made_by(self) -> str:
        """The command that (re)builds this circuit, for hints."""
        return f"prover build {self.name}"

    def check_version(self) -> None:
        if self.manifest.ezkl_version != ezkl_api.EZKL_VERSION:
            raise VersionMismatchError(
                f"circuit {self.name!r} was built with ezkl {self.manifest.ezkl_version}, "
                f"this is ezkl {ezkl_api.EZKL_VERSION}",
                hint=f"rebuild with `{self.made_by}` or install ezkl=={self.manifest.ezkl_version}",
            )

    def srs_path(self) -> Path:
        return recorded_srs(self.srs)

    def proving_files(self) -> ProvingFiles:
        """The circuit's own key material, checked present and current."""
        self.check_version()
        for path in (self.paths.compiled, self.paths.pk):
            require_file(path, self.made_by)
        return ProvingFiles(
            self.paths.compiled, self.paths.pk, self.srs_path(), self.paths.log, self.info.output_scales
        )

    def check_sample(self, sample: Dataset, source: str) -> Dataset:
        """Finite, of the input's type and inside the range the circuit accepts, or a one-line InputError."""
        check_finite(sample, source)
        check_kinds(sample, self.info.input_types, source, self.info.input_names)
        check_range(sample, self.info.input_range, source, self._range_hint())
        return sample

    def _range_hint(self) -> str:
        """What widens the accepted range depends on who made the circuit: a reference
        model's range is its encoding's, an ONNX model's is its calibration data's."""
        if self.manifest.source == "reference":
            return (
                f"encode raw data with the model's own encoding (`prover example {self.name}` writes a valid "
                f"input), or rebuild with `prover build {self.name} --coverage input-box`"
            )
        return "rebuild with `prover build --onnx MODEL --data FILE` whose data covers this input"

    def load_input(self, path: Path, source: str | None = None) -> Dataset:
        """One sample from an ezkl input file, with every check `prove` makes, in its order."""
        return self.check_sample(load_single_input(path, self.info.input_shapes), source or str(path))

    def prove(self, input_file: Path, proof_out: Path | None = None) -> ProofResult:
        """Check the input, make its witness, prove; nothing is left behind on failure."""
        files = self.proving_files()
        return prove_sample(files, self.load_input(input_file), proof_out or self.paths.default_proof)

    def prove_sample(self, sample: Dataset, proof_out: Path, source: str = "sample") -> ProofResult:
        """Prove a sample held in memory (a consumer's chain state), with the same checks."""
        files = self.proving_files()
        return prove_sample(files, self.check_sample(sample, source), proof_out)

    def read_proof(self, path: Path) -> Proof:
        return read_proof(path, self.paths.settings, self.name)

    def verify(self, proof: Path | Proof) -> VerifyResult:
        """valid False for a well-formed proof that does not verify; ProofFormatError if it
        is not a proof for this circuit at all, CircuitError if the vk, settings or SRS
        cannot be read. A `Proof` already parsed is not read again.

        The verdict is the on-chain verifier's: a proof halo2 accepts is still invalid if
        its length is not exactly what this circuit's Solidity verifier requires.
        """
        self.check_version()
        require_file(self.paths.vk, self.made_by)
        parsed = proof if isinstance(proof, Proof) else self.read_proof(proof)
        paths, srs = self.paths, self.srs_path()
        try:
            result = verify_proof(parsed.path, paths.settings, paths.vk, srs, paths.log)
        except CircuitError as exc:
            hint = f"its vk, settings or SRS is damaged: rebuild with `{self.made_by}`"
            raise CircuitError(exc.message, hint=hint) from None
        if not result.valid:
            return result
        expected = verifier_proof_length(paths.vk, paths.settings, srs, paths.log)
        if len(parsed.raw) != expected:
            reason = f"it has {len(parsed.raw)} bytes of proof; the verifier of {self.name!r} takes exactly {expected}"
            return VerifyResult(valid=False, seconds=result.seconds, reason=reason)
        return result

    def summary(self) -> dict[str, Any]:
        """What `prover inspect --json` prints: settings, sizes, scales, fidelity."""
        return manifest_summary(self.manifest)


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    info = manifest.info
    return {
        "name": manifest.name,
        "source": manifest.source,
        "ezkl_version": manifest.ezkl_version,
        "visibilities": {
            "input": manifest.config.input_visibility,
            "output": manifest.config.output_visibility,
            "params": manifest.config.param_visibility,
        },
        "logrows": info.logrows if info else None,
        "num_rows": info.num_rows if info else None,
        "input_scales": info.input_scales if info else None,
        "output_scales": info.output_scales if info else None,
        "pk_bytes": manifest.files["pk"].bytes if "pk" in manifest.files else None,
        "vk_bytes": manifest.files["vk"].bytes if "vk" in manifest.files else None,
        "srs": manifest.srs.model_dump() if manifest.srs else None,
        "fidelity": manifest.fidelity.model_dump() if manifest.fidelity else None,
        "settings": manifest.config.model_dump(),
        "layout": info.layout.model_dump() if info else None,
    }


def open_circuit(name: str, workdir: Path | str = ".") -> Circuit:
    """The built circuit `name` under `workdir` (MissingArtifactError if it was never built)."""
    paths = circuit_paths(Path(workdir), name)
    manifest = load_manifest(paths)
    assert manifest is not None
    if manifest.info is None or manifest.srs is None:
        raise ProverError(f"circuit {name!r} was not fully built", hint=f"run `prover build {name}`")
    return Circuit(paths, manifest)
