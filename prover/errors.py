"""One exception root for everything a user can fix.

The CLI catches `ProverError` and prints `error: <message>` plus `hint: <hint>` on
stderr with `exit_code`, never a traceback. Anything else escaping is a bug.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception from a library (ezkl, onnxruntime, torch, web3) as one line of an
    error message: its text's first line, or its type's name when it has no text."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:limit]


class ProverError(Exception):
    """Root of every error the toolkit raises on purpose."""

    exit_code: int = 2
    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint


class InputError(ProverError):
    """An input tensor the circuit cannot take: bad JSON, shape, NaN/inf or range."""

    default_hint = 'inputs go in ezkl\'s format: {"input_data": [[...flattened values...]]}'


class PrivateInputError(ProverError):
    """A borrower's features, a commitment or an attestation that cannot be used as given."""

    default_hint = "see docs/privacy.md: `prover commit`, `prover attest`, `prover apply`"


class InputShapeError(InputError):
    """The number or layout of input values does not match the circuit's input shape."""


class NonFiniteInputError(InputError):
    """An input value is NaN or infinite; fixed point has no encoding for it."""

    default_hint = "clean the input: every value must be a finite number"


class InputRangeError(InputError):
    """An input lies outside the range the circuit was calibrated on.

    Lookup tables are sized from the calibration data; a value beyond them either fails
    witness generation or silently loses precision, so we refuse it before proving.
    """

    default_hint = "rebuild with calibration data (--data) that covers this input"


class InputTypeError(InputError):
    """A value an integer or boolean input cannot take (a fraction, or outside its type)."""

    default_hint = "integer inputs take whole numbers, boolean inputs 0 or 1"


class MissingArtifactError(ProverError):
    """A file a command needs has not been built yet."""


class DamagedArtifactError(ProverError):
    """A built file is there but not as the build left it: emptied, truncated or edited.

    Refused as an error (exit 2), never read as a verdict: a proof checked against a
    damaged settings file says nothing about the proof.
    """


class WriteError(ProverError):
    """A file could not be written: a folder in its place, a path through a file, no
    permission, a full disk. Writes are atomic, so whatever was there is unchanged."""

    default_hint = "check the path, its permissions and the free space; nothing was changed"


class ProofFormatError(ProverError):
    """The file is not a proof for this circuit: unreadable, corrupt, or foreign."""

    default_hint = "pass a proof.json written by `prover prove` for this circuit"


class VersionMismatchError(ProverError):
    """The installed ezkl differs from the one that built the circuit.

    Keys, settings and proofs are not portable across ezkl versions.
    """


class ModelLoadError(ProverError):
    """An ONNX file that cannot be read, checked or run."""

    default_hint = "export the model again (opset 17 is known to work) and check the path"


class ExportError(ProverError):
    """Exporting a torch model failed or the ONNX disagrees with torch."""


class SettingsError(ProverError):
    """Circuit settings that are unsafe or impossible (e.g. private params on chain)."""


class SrsError(ProverError):
    """A supplied SRS is unreadable, too small, or does not match the known hash."""


class CircuitError(ProverError):
    """ezkl refused a stage (compile, setup, witness, prove) for this circuit."""

    default_hint = "see circuits/<name>/ezkl.log for ezkl's own message"


class UnknownModelError(ProverError):
    """The name is neither a reference model nor a circuit built in this workdir."""

    default_hint = "run `prover models` for the reference models"


class ChainError(ProverError):
    """The node could not be started or reached, or a transaction could not be sent."""


class AuditMismatch(ProverError):
    """A local artifact differs from its on-chain registry record (exit 1, like an invalid proof)."""

    exit_code = 1
    default_hint = "the files changed since registration: restore them, or rebuild and register a new version"


class TransactionReverted(ChainError):
    """The EVM reverted a call, deployment or transaction; `error_name`/`error_args` say why.

    `error_name` is the custom error's name when the contract ABI declares it, `"Error"`
    for `require` messages, `"Panic"` for compiler checks, `None` for empty or unknown data.
    """

    default_hint = "the contract refused the call; the error name says which check failed"

    def __init__(self, action: str, error_name: str | None, error_args: tuple[object, ...], data: bytes) -> None:
        if error_name is None:
            reason = f"unknown revert data 0x{data.hex()}" if data else "no revert data"
        else:
            reason = f"{error_name}({', '.join(map(repr, error_args))})"
        super().__init__(f"{action} reverted: {reason}")
        self.error_name = error_name
        self.error_args = error_args
        self.data = data
