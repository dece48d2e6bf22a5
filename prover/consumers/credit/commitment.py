"""A borrower's commitment: the Poseidon hash of their salted features, as the circuit exposes it.

The circuit is built with input visibility ``hashed``: its one public input instance is
ezkl's Poseidon hash of the whole input tensor (features, then salt). `commit` computes
that very hash off chain, from the same felts the circuit reads, with ezkl's own hash
function, so an attester can sign it before any proof exists and a contract can later
check the proof's instance against the signature. The salted file is the borrower's
secret: it is written readable by its owner only, and never leaves their machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models import get_model
from prover.artifacts import write_json_atomic
from prover.datasets import Dataset, to_input_json
from prover.errors import InputError, PrivateInputError, ProverError
from prover.jsonio import read_json
from prover.proving.circuit import Circuit
from prover.proving.field import FIELD_MODULUS, felt_from_hex, felt_to_hex, from_signed

#: the reference model whose inputs are committed to
MODEL = "credit"


@dataclass(frozen=True)
class Commitment:
    """What `commit` made: the hash to get attested and the secret file to prove from."""

    commitment: int
    salted_file: Path
    features: dict[str, float]
    input_scale: int

    @property
    def hex(self) -> str:
        return commitment_hex(self.commitment)


def commitment_hex(commitment: int) -> str:
    """A commitment as contracts and `prover attest` take it: 0x and 64 hex digits (big-endian)."""
    return f"0x{commitment:064x}"


def parse_commitment(text: str) -> int:
    """A commitment given by a user: 0x-hex or decimal, a field element; else PrivateInputError."""
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise PrivateInputError(f"commitment {text!r} is not a number (0x-hex or decimal)") from None
    if not 0 <= value < FIELD_MODULUS:
        raise PrivateInputError(f"commitment {text!r} is not a field element (0 <= c < r)")
    return value


def check_hashed_input(circuit: Circuit) -> int:
    """The input scale of a circuit whose one input tensor is hashed; ProverError otherwise."""
    config = circuit.manifest.config
    if config.input_visibility != "hashed" or len(circuit.info.input_shapes) != 1:
        raise ProverError(
            f"circuit {circuit.name!r} does not hash its input (input visibility {config.input_visibility}), "
            "so there is nothing to commit to",
            hint=f"commit to inputs of the `{MODEL}` circuit: `prover build {MODEL}`",
        )
    return int(circuit.info.input_scales[0])


def sample_fixed(sample: Dataset, input_scale: int) -> list[int]:
    """A one-input sample as the signed fixed-point integers the circuit reads, in the
    tensor's order; InputError for a value off the grid (its hash would differ)."""
    values = np.asarray(sample[0], dtype=np.float64).ravel()
    fixed = np.rint(values * (1 << input_scale))
    if not np.array_equal(fixed / (1 << input_scale), values):
        raise InputError(f"an input value is not on the circuit's 2**-{input_scale} grid: its hash would differ")
    return [int(value) for value in fixed]


def sample_felts(sample: Dataset, input_scale: int) -> list[int]:
    """The felts the circuit reads for a one-input sample (`sample_fixed` mod r): what ezkl hashes."""
    return [from_signed(value) for value in sample_fixed(sample, input_scale)]


def poseidon_commitment(felts: list[int]) -> int:
    """ezkl's Poseidon hash of `felts`: the value a hashed-input circuit exposes."""
    import ezkl  # noqa: PLC0415 - native module, loaded only where a hash is made

    return felt_from_hex(ezkl.poseidon_hash([felt_to_hex(felt) for felt in felts])[0])


def commitment_of(circuit: Circuit, sample: Dataset) -> int:
    """The commitment of a salted sample under `circuit` (checked as `prove` checks it)."""
    scale = check_hashed_input(circuit)
    circuit.check_sample(sample, "salted input")
    return poseidon_commitment(sample_felts(sample, scale))


def commitment_of_file(circuit: Circuit, salted_file: Path) -> int:
    """The commitment of a salted input file, as `prove` would read it."""
    check_hashed_input(circuit)
    return commitment_of(circuit, circuit.load_input(salted_file))


def read_features(path: Path) -> dict[str, Any]:
    """A borrower's raw features: one JSON object, names as in models/credit.py."""
    document = read_json(path, "features file", PrivateInputError)
    if not isinstance(document, dict):
        raise PrivateInputError(f'{path}: features must be one JSON object, e.g. {{"income": 52000, ...}}')
    return document


def check_commitment_of(circuit: Circuit, commitment: int, salted_file: Path, features_file: Path) -> None:
    """What an attester checks before signing: the salted file hashes to `commitment`, and its
    scores are exactly the encoding of the features it has seen documents for. Without this
    a commitment is a hash of anything; PrivateInputError naming the first difference."""
    from models.credit import FEATURE_NAMES, feature_scores, on_grid  # noqa: PLC0415 - imports torch

    scale = check_hashed_input(circuit)
    hashed = commitment_of_file(circuit, salted_file)
    if hashed != commitment:
        raise PrivateInputError(
            f"{salted_file} hashes to {commitment_hex(hashed)}, not to the commitment {commitment_hex(commitment)}",
            hint="ask the borrower for the salted file `prover commit` wrote with that commitment",
        )
    features = get_credit_features_or_error(read_features(features_file), features_file)
    row = np.asarray([[features[name] for name in FEATURE_NAMES]], dtype=np.float64)
    expected = on_grid(feature_scores(row), scale)[0]
    given = np.asarray(circuit.load_input(salted_file)[0], dtype=np.float64).ravel()[: len(FEATURE_NAMES)]
    for name, want, have in zip(FEATURE_NAMES, expected, given, strict=True):
        if want != have:
            raise PrivateInputError(
                f"the commitment hides another {name} than {features_file} states "
                f"(score {have:g}, the features give {want:g})",
                hint="sign only a commitment to the features you have seen documents for",
            )


def get_credit_features_or_error(raw: dict[str, Any], source: Path) -> dict[str, float]:
    try:
        return get_credit_features(raw)
    except ValueError as exc:
        raise PrivateInputError(f"{source}: {exc}") from None


def commit(circuit: Circuit, features_file: Path, salted_out: Path, *, overwrite: bool = False) -> Commitment:
    """Encode a borrower's features at the circuit's scale, add a fresh secret salt, write the
    salted sample (owner-readable only) and return its commitment.

    Each call draws a new salt: committing twice gives two unlinkable commitments to the same
    features, so one attestation cannot be matched with another by its hash. An existing
    salted file is kept unless `overwrite`: its commitment may already be with an attester,
    and a proof of it needs that very salt.
    """
    scale = check_hashed_input(circuit)
    if salted_out.exists() and not overwrite:
        raise PrivateInputError(
            f"{salted_out} exists: it holds the salt of a commitment you may have handed out",
            hint="pass --out NEW.json, or --force to replace it",
        )
    raw = read_features(features_file)
    features = get_credit_features_or_error(raw, features_file)
    try:
        encoded = get_model(MODEL).encode(features, scale)
    except ValueError as exc:  # a circuit whose scale gives a weak salt
        raise PrivateInputError(f"circuit {circuit.name!r}: {exc}") from None
    if math.prod(circuit.info.input_shapes[0]) != encoded.size:
        raise ProverError(
            f"circuit {circuit.name!r} takes {math.prod(circuit.info.input_shapes[0])} inputs, "
            f"the {MODEL} model's salted features are {encoded.size}",
            hint=f"rebuild it: `prover build {MODEL}`",
        )
    sample = [encoded.astype(np.float64).reshape(1, *circuit.info.input_shapes[0])]
    commitment = commitment_of(circuit, sample)
    write_json_atomic(salted_out, to_input_json(sample), private=True)
    return Commitment(commitment, salted_out, features, scale)


def get_credit_features(raw: dict[str, Any]) -> dict[str, float]:
    """The model's own check of raw features (names, numbers, domains); ValueError if bad."""
    from models.credit import check_features  # noqa: PLC0415 - the model module imports torch

    return check_features(raw)
