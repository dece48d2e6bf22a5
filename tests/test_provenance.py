"""Provenance: the lineage of a training run is deterministic, sensitive to every input,
recorded without passing a tracker around, and matches the files a build writes.

Apart from the shared `built` fixture, models train for two epochs here, so the file
runs in seconds; the hash formats are re-derived by hand to pin what an audit relies on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import manifest_of
from torch import nn

from models import get_model
from models.fee import FeeModel
from prover.artifacts import circuit_paths, save_manifest, sha256_file
from prover.pipeline.builds import _export_reference, build_reference
from prover.progress import SilentReporter
from prover.provenance import (
    Lineage,
    ProvenanceTracker,
    active_tracker,
    files_altered,
    record_batch,
    record_checkpoint,
    state_dict_sha256,
    write_training_data,
)


class QuickFee(FeeModel):
    """The fee recipe, trained for two epochs: every provenance path, in well under a second."""

    epochs = 2


class AlteredFee(QuickFee):
    """One training feature moved by one input-scale step, everything else identical."""

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().training_tensors()
        x = x.clone()
        x[17, 3] += 1 / 256
        return x, y


def _tracked_training(model: FeeModel, data_file: Path) -> tuple[Lineage, nn.Module]:
    """What the export stage does, minus the ONNX: data file, then training under a tracker."""
    inputs, targets = model.training_tensors()
    write_training_data(data_file, {"x": inputs, "y": targets})
    with ProvenanceTracker(model.name, seeds={"model": model.seed}) as run:
        run.record_training_data(data_file)
        trained = model.train()
    return run.lineage(), trained


def _frame(name: str, tensor: torch.Tensor) -> bytes:
    """The documented tensor framing, written independently of prover.provenance."""
    header = json.dumps([name, str(tensor.dtype).removeprefix("torch."), list(tensor.shape)])
    return header.encode() + b"\n" + tensor.detach().contiguous().numpy().tobytes()


def test_same_seed_gives_identical_lineage(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, _ = _tracked_training(QuickFee(), tmp_path / "a" / "data.npz")
    second, _ = _tracked_training(QuickFee(), tmp_path / "b" / "data.npz")
    assert (tmp_path / "a" / "data.npz").read_bytes() == (tmp_path / "b" / "data.npz").read_bytes()
    assert first.model_dump_json() == second.model_dump_json()
    assert len(first.epoch_checkpoints) == 2 and first.epoch_checkpoints[-1] == first.lifecycle.final_checkpoint
    samples = len(QuickFee().training_tensors()[0])
    assert first.lifecycle.stream.samples == 2 * samples
    assert first.lifecycle.stream.batches == 2 * -(-samples // QuickFee.batch_size)
    assert first.hyperparameters == {
        "optimizer": "Adam",
        "loss": "mse_loss",
        "epochs": 2,
        "batch_size": 1024,
        "learning_rate": 0.01,
    }
    assert first.seeds == {"model": 0, "torch.manual_seed": 0, "numpy.default_rng": 0}
    assert set(first.versions) == {"python", "torch", "numpy", "onnx", "ezkl"}


def test_one_changed_sample_changes_dataset_and_stream_hashes(tmp_path: Path) -> None:
    original, _ = _tracked_training(QuickFee(), tmp_path / "original.npz")
    altered, _ = _tracked_training(AlteredFee(), tmp_path / "altered.npz")
    assert original.lifecycle.training_data is not None and altered.lifecycle.training_data is not None
    assert original.lifecycle.training_data.sha256 != altered.lifecycle.training_data.sha256
    assert original.lifecycle.stream.sha256 != altered.lifecycle.stream.sha256
    assert original.lifecycle.stream.samples == altered.lifecycle.stream.samples


def test_another_seed_changes_stream_and_checkpoints(tmp_path: Path) -> None:
    reseeded = QuickFee()
    reseeded.seed = 1
    original, _ = _tracked_training(QuickFee(), tmp_path / "seed0.npz")
    other, _ = _tracked_training(reseeded, tmp_path / "seed1.npz")
    assert original.lifecycle.stream.sha256 != other.lifecycle.stream.sha256
    assert original.lifecycle.final_checkpoint != other.lifecycle.final_checkpoint
    assert not set(original.epoch_checkpoints) & set(other.epoch_checkpoints)
    assert other.seeds["torch.manual_seed"] == 1


def test_final_checkpoint_is_the_trained_weights_hash(tmp_path: Path) -> None:
    lineage, trained = _tracked_training(QuickFee(), tmp_path / "data.npz")
    state = trained.state_dict()
    by_hand = hashlib.sha256(b"".join(_frame(name, state[name]) for name in sorted(state))).hexdigest()
    assert lineage.lifecycle.final_checkpoint == state_dict_sha256(trained) == by_hand


def test_custom_loop_reports_through_public_functions() -> None:
    """A loop that is not fit_minibatches records with two calls, and never sees the tracker."""
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    x, y = torch.arange(12.0).reshape(4, 3), torch.ones(4, 1)
    expected_stream = hashlib.sha256()

    def one_epoch() -> None:
        for start in (0, 2):
            record_batch(x[start : start + 2], y[start : start + 2])
        record_checkpoint(net)

    assert active_tracker() is None
    with ProvenanceTracker("custom") as run:
        assert active_tracker() is run
        one_epoch()
        record_checkpoint(net, final=True)
    for start in (0, 2):
        expected_stream.update(_frame("0", x[start : start + 2]) + _frame("1", y[start : start + 2]))
    recorded = run.lineage()
    assert recorded.lifecycle.stream.sha256 == expected_stream.hexdigest()
    assert (recorded.lifecycle.stream.samples, recorded.lifecycle.stream.batches) == (4, 2)
    assert recorded.epoch_checkpoints == [state_dict_sha256(net)] and recorded.lifecycle.final_checkpoint

    assert active_tracker() is None
    one_epoch()  # outside any tracker: silently ignored, and the closed run is untouched
    assert run.lineage() == recorded


def test_tracker_is_released_on_error_and_refuses_conflicting_records() -> None:
    with pytest.raises(RuntimeError, match="boom"), ProvenanceTracker("failing"):
        raise RuntimeError("boom")
    assert active_tracker() is None
    with ProvenanceTracker("conflict", seeds={"torch.manual_seed": 0}) as run:
        with pytest.raises(ValueError, match="seed"):
            run.record_seeds({"torch.manual_seed": 1})
        with pytest.raises(ValueError, match="first"):
            record_batch(torch.zeros(3, 2), torch.zeros(2))


def test_training_data_file_is_reproducible_and_loadable(tmp_path: Path) -> None:
    x, y = torch.arange(6, dtype=torch.float32).reshape(3, 2), torch.tensor([0, 1, 2])
    write_training_data(tmp_path / "a.npz", {"x": x, "y": y})
    write_training_data(tmp_path / "b.npz", {"x": x.numpy(), "y": y.numpy()})
    assert sha256_file(tmp_path / "a.npz") == sha256_file(tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as loaded:
        np.testing.assert_array_equal(loaded["x"], x.numpy())
        np.testing.assert_array_equal(loaded["y"], y.numpy())


def test_export_stage_is_byte_reproducible_and_audit_finds_alterations(tmp_path: Path) -> None:
    """Two exports of one seed write identical lineage and data files; an audit of a
    tampered copy names exactly the file that changed."""
    first, second = circuit_paths(tmp_path / "a", "fee"), circuit_paths(tmp_path / "b", "fee")
    for paths in (first, second):
        _export_reference(QuickFee(), paths, 1)
    for name in ("lineage", "training_data", "onnx"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes(), name
    text = first.lineage.read_text()
    assert str(tmp_path) not in text and "/" not in json.dumps(json.loads(text)["lifecycle"])
    assert files_altered(first.lineage) == []
    with np.load(second.training_data) as data:
        x, y = data["x"].copy(), data["y"]
    x[0, 0] += 1
    write_training_data(second.training_data, {"x": x, "y": y})
    assert files_altered(second.lineage) == ["training_data.npz"]


@pytest.mark.parametrize("name", ["fee", "digits"])
def test_build_records_lineage_and_training_data(built: Path, name: str) -> None:
    paths, manifest = circuit_paths(built, name), manifest_of(built, name)
    lineage = Lineage.model_validate_json(paths.lineage.read_text())
    dataset_hash = sha256_file(paths.training_data)
    assert lineage.lifecycle.training_data is not None and lineage.lifecycle.onnx is not None
    assert lineage.lifecycle.training_data.sha256 == manifest.files["training_data"].sha256 == dataset_hash
    assert manifest.files["lineage"].sha256 == sha256_file(paths.lineage)
    assert lineage.lifecycle.onnx.sha256 == manifest.files["onnx"].sha256 == sha256_file(paths.onnx)
    assert {"training_data", "lineage"} <= set(manifest.stages["export"].outputs)
    assert files_altered(paths.lineage) == []

    model = get_model(name)
    inputs, targets = model.training_tensors()
    with np.load(paths.training_data) as data:
        np.testing.assert_array_equal(data["x"], inputs.numpy())
        np.testing.assert_array_equal(data["y"], targets.numpy())
    assert lineage.lifecycle.stream.samples == len(inputs) * lineage.hyperparameters["epochs"]
    assert len(lineage.epoch_checkpoints) == lineage.hyperparameters["epochs"]
    assert lineage.lifecycle.final_checkpoint == state_dict_sha256(model.train())


def test_build_made_before_lineage_gets_it_with_later_stages_cached(workdir_copy: Path) -> None:
    """An old build (export cached without lineage) reruns only the export, which writes
    the same ONNX as before, so settings, compile and setup stay cached."""
    paths, manifest = circuit_paths(workdir_copy, "fee"), manifest_of(workdir_copy, "fee")
    export = manifest.stages["export"]
    del export.inputs["lineage"]
    for key in ("lineage", "training_data"):
        del export.outputs[key], manifest.files[key]
        getattr(paths, key).unlink()
    save_manifest(paths, manifest)

    reporter = SilentReporter()
    build_reference("fee", workdir_copy, reporter=reporter)
    statuses = dict(reporter.events)
    assert statuses["export"] == "done"
    assert statuses["settings"] == statuses["compile"] == statuses["setup"] == "cached"
    assert files_altered(paths.lineage) == []
    assert manifest_of(workdir_copy, "fee").files["lineage"].sha256 == sha256_file(paths.lineage)
