"""Provenance of a training run: which data went in, in which order, and what came out.

Why: a model version registered on chain carries the sha256 of its training data file
and of its lineage file, and a third party must be able to recompute both and find any
alteration. So the lineage is deterministic: no wall-clock time (the block timestamp is
the timestamp), no absolute paths, and two runs of one seed give byte-identical JSON.

It links the lifecycle, each step computed from the product of the one before:
training data file -> stream of minibatches consumed -> final checkpoint -> ONNX file.

Training code does not carry a tracker around: `fit_minibatches`, or any custom loop,
calls `record_batch` / `record_checkpoint` (and `record_seeds` / `record_hyperparameters`),
which report to the tracker active in the current context and do nothing without one.

Hash formats, so an audit can recompute them without this code: a tensor is framed as
the UTF-8 JSON line ``["<name>", "<dtype>", [shape...]]\\n`` followed by its raw C-order
bytes (little-endian on every platform torch supports). A batch's tensors are named
"0", "1", ... in argument order; a checkpoint is its state_dict's tensors by sorted name.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import zipfile
from collections.abc import Mapping
from contextvars import ContextVar, Token
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from prover.artifacts import FileRecord, sha256_file, write_bytes_atomic, write_json_atomic

LINEAGE_SCHEMA = 1
#: libraries whose versions decide the trained weights, the ONNX graph or the circuit
TRACKED_LIBRARIES = ("torch", "numpy", "onnx", "ezkl")
#: zip's own epoch: the archive records no time of writing
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

Scalar = bool | int | float | str


class StreamRecord(BaseModel):
    """Every minibatch training consumed, hashed in consumption order."""

    sha256: str
    samples: int = Field(description="rows consumed, counting each epoch's pass again")
    batches: int


class Lifecycle(BaseModel):
    """The chain an audit follows, in order: data file, what training read, weights, graph."""

    training_data: FileRecord | None = None
    stream: StreamRecord
    final_checkpoint: str | None = Field(default=None, description="state_dict sha256 of the trained model")
    onnx: FileRecord | None = None


class Lineage(BaseModel):
    """What `lineage.json` holds; its sha256 is what a registry would store on chain."""

    schema_version: int = LINEAGE_SCHEMA
    model: str
    seeds: dict[str, int] = Field(default_factory=dict)
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    lifecycle: Lifecycle
    epoch_checkpoints: list[str] = Field(default_factory=list, description="state_dict sha256 after epoch 1, 2, ...")


def library_versions() -> dict[str, str]:
    """Versions read from package metadata, so nothing (ezkl included) is imported for it."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _hash_tensor(digest: hashlib._Hash, name: str, tensor: torch.Tensor | np.ndarray) -> None:
    """Frame one tensor (see the module docstring): header line, then its bytes."""
    data = torch.as_tensor(tensor).detach().cpu().contiguous()
    header = json.dumps([name, str(data.dtype).removeprefix("torch."), list(data.shape)])
    digest.update(header.encode() + b"\n")
    digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())


def state_dict_sha256(model: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """Checkpoint hash: names, dtypes, shapes and bytes of every tensor, by sorted name.

    Sorted rather than registration order, so a state_dict reloaded from any container
    (which may order keys differently) hashes the same.
    """
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    digest = hashlib.sha256()
    for name in sorted(state):
        _hash_tensor(digest, name, state[name])
    return digest.hexdigest()


def write_training_data(path: Path, arrays: Mapping[str, np.ndarray | torch.Tensor]) -> None:
    """An .npz that `np.load` reads, byte-for-byte the same on every build and machine.

    Why not `np.savez`: numpy 2.x on Python 3.11 happens to write zip's epoch as the
    entries' date, but older numpy wrote through a temp file whose mtime landed in the
    archive, and the "made by" OS byte varies by platform. Every header field is pinned
    here instead: fixed date, Unix, mode 0644, stored (deflate output can change with
    the zlib build), .npy format 1.0, little-endian C-order arrays.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            array = np.ascontiguousarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value)
            array = array.astype(array.dtype.newbyteorder("<"), copy=False)
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            entry.create_system, entry.external_attr = 3, 0o644 << 16
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, version=(1, 0), allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


class ProvenanceTracker:
    """Records one training run while active: ``with ProvenanceTracker("fee") as run: ...``.

    Leaving the block stops recording, but the record stays readable and the exported
    files can still be added (`record_onnx`) before `write`.
    """

    def __init__(
        self, model: str, *, seeds: Mapping[str, int] | None = None, hyperparameters: Mapping[str, Scalar] | None = None
    ) -> None:
        self.model = model
        self.seeds: dict[str, int] = {}
        self.hyperparameters: dict[str, Scalar] = {}
        self.versions = library_versions()
        self.training_data: FileRecord | None = None
        self.onnx: FileRecord | None = None
        self.epoch_checkpoints: list[str] = []
        self.final_checkpoint: str | None = None
        self.samples = self.batches = 0
        self._stream = hashlib.sha256()
        self._token: Token[ProvenanceTracker | None] | None = None
        self.record_seeds(seeds or {})
        self.record_hyperparameters(hyperparameters or {})

    def __enter__(self) -> ProvenanceTracker:
        if self._token is not None:
            raise RuntimeError("this tracker is already recording; use a new one per run")
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore whatever was active before (an outer tracker, or none), even on error."""
        assert self._token is not None
        _ACTIVE.reset(self._token)
        self._token = None

    def record_seeds(self, seeds: Mapping[str, int]) -> None:
        _merge_into(self.seeds, seeds, "seed")

    def record_hyperparameters(self, values: Mapping[str, Scalar]) -> None:
        _merge_into(self.hyperparameters, values, "hyper-parameter")

    def record_batch(self, *tensors: torch.Tensor | np.ndarray) -> None:
        """Fold one minibatch into the stream hash; its rows count as consumed samples."""
        if not tensors:
            raise ValueError("record_batch needs at least one tensor")
        if any(np.ndim(tensor) == 0 for tensor in tensors) or len({len(tensor) for tensor in tensors}) != 1:
            raise ValueError("a batch's tensors must share their first (sample) dimension")
        for index, tensor in enumerate(tensors):
            _hash_tensor(self._stream, str(index), tensor)
        self.samples += len(tensors[0])
        self.batches += 1

    def record_checkpoint(self, model: torch.nn.Module, *, final: bool = False) -> str:
        """Hash the weights after an epoch, or (final=True) the model training returns."""
        digest = state_dict_sha256(model)
        if final:
            self.final_checkpoint = digest
        else:
            self.epoch_checkpoints.append(digest)
        return digest

    def record_training_data(self, path: Path) -> FileRecord:
        """The dataset hash: sha256 of the file, named without its folder."""
        self.training_data = FileRecord.of(path, path.parent)
        return self.training_data

    def record_onnx(self, path: Path) -> FileRecord:
        self.onnx = FileRecord.of(path, path.parent)
        return self.onnx

    def lineage(self) -> Lineage:
        stream = StreamRecord(sha256=self._stream.hexdigest(), samples=self.samples, batches=self.batches)
        lifecycle = Lifecycle(
            training_data=self.training_data, stream=stream, final_checkpoint=self.final_checkpoint, onnx=self.onnx
        )
        return Lineage(
            model=self.model,
            seeds=dict(self.seeds),
            hyperparameters=dict(self.hyperparameters),
            versions=dict(self.versions),
            lifecycle=lifecycle,
            epoch_checkpoints=list(self.epoch_checkpoints),
        )

    def write(self, path: Path) -> None:
        """Atomically, in field order: the same run always gives the same bytes."""
        write_json_atomic(path, json.loads(self.lineage().model_dump_json()))


def _merge_into(current: dict[str, Any], new: Mapping[str, Any], what: str) -> None:
    """Add entries, refusing to overwrite one with another value: the lineage would lie."""
    for key, value in new.items():
        if key in current and current[key] != value:
            raise ValueError(f"{what} {key!r} recorded as {current[key]!r}, now {value!r}")
    current.update(new)


_ACTIVE: ContextVar[ProvenanceTracker | None] = ContextVar("provenance_tracker", default=None)


def active_tracker() -> ProvenanceTracker | None:
    """The tracker recording in this context, if any."""
    return _ACTIVE.get()


def record_batch(*tensors: torch.Tensor | np.ndarray) -> None:
    """Report one consumed minibatch to the active tracker; a no-op without one."""
    if (tracker := _ACTIVE.get()) is not None:
        tracker.record_batch(*tensors)


def record_checkpoint(model: torch.nn.Module, *, final: bool = False) -> None:
    """Report the weights after an epoch (or the final ones); a no-op without a tracker."""
    if (tracker := _ACTIVE.get()) is not None:
        tracker.record_checkpoint(model, final=final)


def record_seeds(seeds: Mapping[str, int]) -> None:
    """Report the seeds a loop used (e.g. {"torch.manual_seed": 0}); a no-op without a tracker."""
    if (tracker := _ACTIVE.get()) is not None:
        tracker.record_seeds(seeds)


def record_hyperparameters(values: Mapping[str, Scalar]) -> None:
    """Report the settings a loop actually trained with; a no-op without a tracker."""
    if (tracker := _ACTIVE.get()) is not None:
        tracker.record_hyperparameters(values)


def files_altered(lineage_path: Path) -> list[str]:
    """The files named in a lineage whose sha256 no longer matches, for an audit.

    They are looked up next to `lineage_path`; a missing file counts as altered.
    """
    lineage = Lineage.model_validate_json(lineage_path.read_text())
    altered = []
    for record in (lineage.lifecycle.training_data, lineage.lifecycle.onnx):
        if record is None:
            continue
        path = lineage_path.parent / record.path
        if not path.exists() or sha256_file(path) != record.sha256:
            altered.append(record.path)
    return altered


__all__: list[str] = [
    "Lifecycle",
    "Lineage",
    "ProvenanceTracker",
    "StreamRecord",
    "active_tracker",
    "files_altered",
    "library_versions",
    "record_batch",
    "record_checkpoint",
    "record_hyperparameters",
    "record_seeds",
    "state_dict_sha256",
    "write_training_data",
]
