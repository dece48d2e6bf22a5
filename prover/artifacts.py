"""Where every artifact lives, how it is hashed and written, and the manifest that records it.

All paths come from `CircuitPaths`; no other module builds a file name. Every write is
atomic (temp file in the same folder, then `os.replace`), so an interrupted or failed
stage never leaves a half-written artifact where a later stage would trust it; the temp
file names its writer, so the next write in that folder removes a killed writer's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from prover.config import CircuitConfig, Layout
from prover.errors import DamagedArtifactError, MissingArtifactError, ProverError, WriteError
from prover.jsonio import read_capped
from prover.owners import exclusive, remove_dead_temps, temp_prefix

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
MANIFEST_SCHEMA = 3


def validate_name(name: str) -> str:
    """Circuit names end up in folder names and on-chain model names, so keep them plain
    (a leading digit is fine: ezkl's own examples are named like `1l_relu`)."""
    if not NAME_PATTERN.match(name):
        raise ProverError(
            f"invalid circuit name {name!r}",
            hint="use lowercase letters, digits and '_', not starting with '_' (max 40)",
        )
    return name


@dataclass(frozen=True)
class CircuitPaths:
    """The files of one circuit under `<workdir>/circuits/<name>/`."""

    workdir: Path
    name: str

    @property
    def root(self) -> Path:
        return self.workdir / "circuits" / self.name

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def onnx(self) -> Path:
        return self.root / "network.onnx"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def calibration(self) -> Path:
        return self.root / "calibration.json"

    @property
    def heldout(self) -> Path:
        return self.root / "heldout.json"

    @property
    def training_data(self) -> Path:
        """The exact tensors a reference model trained on; its sha256 is the dataset hash."""
        return self.root / "training_data.npz"

    @property
    def lineage(self) -> Path:
        """How the weights came to be (data, stream, checkpoints, ONNX), see prover.provenance."""
        return self.root / "lineage.json"

    @property
    def compiled(self) -> Path:
        return self.root / "network.compiled"

    @property
    def vk(self) -> Path:
        return self.root / "key.vk"

    @property
    def pk(self) -> Path:
        return self.root / "key.pk"

    @property
    def log(self) -> Path:
        return self.root / "ezkl.log"

    @property
    def default_proof(self) -> Path:
        return self.root / "proof.json"


def circuit_paths(workdir: Path, name: str) -> CircuitPaths:
    return CircuitPaths(workdir=Path(workdir).resolve(), name=validate_name(name))


#: scratch folders the settings stage makes inside a circuit folder (the tuner's candidates)
SCRATCH_PREFIX = ".settings-"


@contextlib.contextmanager
def build_lock(paths: CircuitPaths, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One build of a circuit at a time; the lock dies with its process. A second build
    waits, saying for which process (`on_wait`, else a warning on stderr, see owners.py).

    Two builds of one circuit would interleave their manifest and key writes. Holding the
    lock, a build also removes what a killed build left in the circuit's folder: the
    tuner's scratch folders and the later stages' witness scratch (`tmp*`, which only
    builds and a registration's witness make there: no other build can be using them),
    and temp files whose writer is dead.
    """
    with exclusive(paths.root.parent / f".{paths.name}.lock", f"the build of {paths.name!r}", on_wait):
        if paths.root.is_dir():
            for leftover in [*paths.root.glob(f"{SCRATCH_PREFIX}*"), *paths.root.glob("tmp*")]:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
            remove_dead_temps(paths.root)
        yield


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """Hash of a JSON-able value in canonical form: a fingerprint for configs and data."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@contextlib.contextmanager
def writing(target: Path) -> Iterator[None]:
    """Turn an OSError while writing `target` (or scratch files beside it) into one WriteError:
    a full disk or a read-only folder is the user's to fix, not a traceback."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = f"{exc.filename or target.parent} is a file, not a folder"
        else:
            reason = exc.strerror or type(exc).__name__
        raise WriteError(f"cannot write {target}: {reason}") from None


def writable_target(target: Path) -> Path:
    """`target` with its folder made, refused if it is a folder itself: checked before any
    work is spent on what goes there."""
    target = Path(target)
    if target.is_dir():
        raise WriteError(f"cannot write {target}: it is a folder", hint="name a file to write (in any folder)")
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


@contextlib.contextmanager
def atomic_path(target: Path, *, private: bool = False) -> Iterator[Path]:
    """Yield a temp path next to `target`; move it into place only if the block succeeds.

    If anything fails, the temp file is removed and an existing `target` is left as it
    was; failing to write (full disk, no permission) is a WriteError. A `private` file (a
    secret salt) keeps mkstemp's 0600 from creation to rename, so it is never readable by others.
    """
    writable_target(target)
    remove_dead_temps(target.parent)
    with writing(target):
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target.name), suffix=".tmp", dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise ProverError(f"stage produced no {target.name}")
        with writing(target):
            if private:  # a secret is on disk before its name is: a crash cannot lose it behind a printed hash
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
            else:
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts follow the umask
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_json_atomic(target: Path, value: Any, *, private: bool = False) -> None:
    with atomic_path(target, private=private) as tmp, writing(target):
        tmp.write_text(json.dumps(value, indent=2) + "\n")


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp, writing(target):
        tmp.write_bytes(data)


class FileRecord(BaseModel):
    """A file the manifest vouches for: its hash and size at the time it was made."""

    path: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, path: Path, root: Path) -> FileRecord:
        try:
            shown = str(path.relative_to(root))
        except ValueError:
            shown = str(path)
        return cls(path=shown, sha256=sha256_file(path), bytes=path.stat().st_size)


class StageRecord(BaseModel):
    """What a stage consumed (fingerprints) and produced (files), for rerun decisions."""

    inputs: dict[str, str]
    outputs: dict[str, FileRecord] = Field(default_factory=dict)
    seconds: float = 0.0


class SrsRecord(BaseModel):
    path: str
    sha256: str
    logrows: int
    kind: Literal["dev", "supplied"]
    known_public: bool | None = Field(
        default=None,
        description="supplied only: True if it matched the public table, False if k has no entry",
    )


class OutputFidelity(BaseModel):
    """One output tensor: how large it gets, the error it is allowed, the error it has."""

    name: str
    magnitude: float = Field(description="max |float output| over calibration and held-out data")
    bound: float | None = Field(
        default=None, description="max |circuit - float| allowed at this magnitude (None: unbounded)"
    )
    relative: float | None = Field(
        default=None, description="if set, each sample is held to this share of its own |value| (floored)"
    )
    max_abs_error: float | None = None
    bound_used: float | None = Field(default=None, description="worst error over the error its sample was allowed")


class FidelityReport(BaseModel):
    """The circuit's quantized outputs against the float model, from witnesses only."""

    dataset: Literal["heldout", "calibration"]
    samples: int
    max_abs_error: float
    mean_abs_error: float
    decision: str | None = None
    agreement: float | None = Field(default=None, description="share of equal decisions (near-ties left out), 0..1")
    disagreements: int | None = None
    outputs: list[OutputFidelity] = Field(default_factory=list)
    within_bounds: bool | None = None


class TrialRecord(BaseModel):
    """One settings candidate the tuner looked at, and how far it got."""

    phase: Literal["ezkl", "scales", "layout", "finalist"]
    source: Literal["tuned", "ezkl"] = Field(default="tuned", description="ezkl: plain ezkl's calibrated settings")
    layout: Layout | None = None
    status: str = Field(description="'passed', 'chosen', or why it was pruned")
    num_rows: int | None = None
    max_abs_error: float | None = None
    output_errors: list[float] | None = None
    agreement: float | None = None
    setup_s: float | None = None
    prove_s: float | None = None
    pk_bytes: int | None = None
    proof_bytes: int | None = None
    verify_gas: int | None = None


class TuningReport(BaseModel):
    """What the tuner searched, under which bounds, what it chose, or why nothing fit."""

    objective: str
    outputs: list[OutputFidelity] = Field(default_factory=list, description="per output tensor: magnitude and bound")
    max_error: float | None = None
    max_rel_error: float | None = None
    decision: str | None = None
    min_agreement: float | None = None
    coverage: str = "calibration"
    chosen: Layout | None = None
    winner: Literal["tuned", "ezkl"] | None = None
    failure: str | None = None
    budget_s: float = 0.0
    work_s: float = Field(default=0.0, description="work spent, estimated from circuit sizes (what the budget counts)")
    seconds: float = 0.0
    trials: list[TrialRecord] = Field(default_factory=list)


class CircuitInfo(BaseModel):
    """Facts read back from the settings actually used, for `inspect` and later stages."""

    logrows: int
    num_rows: int
    layout: Layout
    input_scales: list[int]
    output_scales: list[int]
    param_scale: int
    input_shapes: list[list[int]]
    output_shapes: list[list[int]]
    input_range: list[tuple[float, float]]
    input_names: list[str] = Field(default_factory=list, description="from the ONNX graph")
    input_types: list[str] = Field(default_factory=list, description="numpy type names; empty: all float32")
    output_names: list[str] = Field(default_factory=list, description="from the ONNX graph")
    dynamic_axes: list[str] = Field(default_factory=list, description="symbolic dimensions fixed to 1")


class Manifest(BaseModel):
    schema_version: int = MANIFEST_SCHEMA
    name: str
    source: Literal["reference", "onnx"]
    model: str | None = Field(default=None, description="reference circuits: the model built (variants share it)")
    ezkl_version: str
    config: CircuitConfig
    batch: int = Field(default=1, description="inferences per proof: the graph's batch dimension")
    info: CircuitInfo | None = None
    files: dict[str, FileRecord] = Field(default_factory=dict)
    srs: SrsRecord | None = None
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    fidelity: FidelityReport | None = None
    tuning: TuningReport | None = None


def load_manifest(paths: CircuitPaths, *, required: bool = True) -> Manifest | None:
    if not paths.manifest.exists():
        if required:
            raise MissingArtifactError(
                f"no circuit {paths.name!r} in {paths.workdir}",
                hint=f"run `prover build {paths.name}` (or --workdir to point at it)",
            )
        return None
    hint = f"rebuild with `prover build {paths.name}`"
    data = read_capped(paths.manifest, "manifest", DamagedArtifactError, hint)
    try:
        return Manifest.model_validate_json(data)
    except (ValidationError, ValueError) as exc:
        raise DamagedArtifactError(
            f"manifest {paths.manifest} is unreadable ({type(exc).__name__})", hint=hint
        ) from None


def readable_manifest(paths: CircuitPaths) -> Manifest | None:
    """The manifest if there is one this version can read; None for none, an older schema
    or a damaged file (which a build then replaces)."""
    try:
        return load_manifest(paths, required=False)
    except ProverError:
        return None


def save_manifest(paths: CircuitPaths, manifest: Manifest) -> None:
    write_json_atomic(paths.manifest, json.loads(manifest.model_dump_json()))


def require_file(path: Path, made_by: str) -> Path:
    """Fail with the command that makes `path` if it is missing."""
    if not path.exists():
        raise MissingArtifactError(f"missing {path}", hint=f"run `{made_by}` to make it")
    return path
