"""build -> prove -> verify for every reference model and for a user's own ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import manifest_of, run_cli

from prover.datasets import load_single_input, to_input_json
from prover.pipeline.builds import build_reference
from prover.pipeline.export import run_onnx
from prover.progress import SilentReporter


@pytest.mark.parametrize("name", ["fee", "digits"])
def test_reference_model_proves_and_verifies(built: Path, tmp_path: Path, name: str) -> None:
    """The whole off-chain path works for each reference model, through the CLI."""
    sample, proof = tmp_path / "input.json", tmp_path / "proof.json"
    assert run_cli("example", name, "--out", sample).code == 0
    proved = run_cli("prove", name, "--workdir", built, "--input", sample, "--out", proof, "--json")
    assert proved.code == 0, proved.stderr
    result = json.loads(proved.stdout)
    assert result["proof_bytes"] > 0 and result["prove_seconds"] > 0
    assert "INSECURE" in proved.stderr  # dev SRS is always announced

    manifest = manifest_of(built, name)
    circuit = built / "circuits" / name
    reference = run_onnx(circuit / "network.onnx", load_single_input(sample, manifest.info.input_shapes))
    tolerance = manifest.fidelity.max_abs_error + 1e-6
    assert np.max(np.abs(np.array(result["outputs"][0]) - reference[0])) <= tolerance

    verified = run_cli("verify", name, "--workdir", built, "--proof", proof)
    assert verified.code == 0, verified.stderr
    assert "valid" in verified.stdout


def test_reference_fidelity_is_recorded(built: Path) -> None:
    """Every build reports error and decision agreement on the whole held-out set."""
    for name, decision in (("fee", "fee bucket"), ("digits", "argmax")):
        report = manifest_of(built, name).fidelity
        assert report is not None and report.dataset == "heldout"
        assert report.samples >= 300
        assert report.decision == decision
        assert report.agreement is not None and report.agreement >= 0.98


class TinyNet(torch.nn.Module):
    """A model the toolkit has never seen: two inputs mixed, three outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(5, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _export_user_model(folder: Path) -> tuple[Path, Path, Path]:
    torch.manual_seed(7)
    net = TinyNet().eval()
    onnx_path = folder / "user.onnx"
    torch.onnx.export(net, (torch.zeros(1, 5),), str(onnx_path), input_names=["x"], opset_version=17, dynamo=False)
    rng = np.random.default_rng(3)
    calibration = rng.uniform(-1, 1, size=(16, 1, 5))
    heldout = rng.uniform(-0.9, 0.9, size=(40, 1, 5))
    (folder / "calib.json").write_text(json.dumps(to_input_json([calibration])))
    (folder / "holdout.json").write_text(json.dumps(to_input_json([heldout])))
    (folder / "one.json").write_text(json.dumps(to_input_json([heldout[:1]])))
    return onnx_path, folder / "calib.json", folder / "holdout.json"


@pytest.mark.slow
def test_user_onnx_model_builds_proves_verifies(tmp_path: Path) -> None:
    """`build --onnx` works on a model it has never seen, with concatenated calibration samples."""
    onnx_path, calib, holdout = _export_user_model(tmp_path)
    work = tmp_path / "work"
    built = run_cli(
        "build",
        "--onnx",
        onnx_path,
        "--name",
        "mine",
        "--data",
        calib,
        "--holdout",
        holdout,
        "--workdir",
        work,
        "--json",
    )
    assert built.code == 0, built.stderr
    summary = json.loads(built.stdout)
    # no --decision: an unknown model is held to 1% of each output's magnitude, no decision
    assert summary["fidelity"]["samples"] == 40 and summary["fidelity"]["decision"] is None
    (output,) = summary["fidelity"]["outputs"]
    assert output["max_abs_error"] <= output["bound"] == pytest.approx(0.01 * output["magnitude"])
    assert summary["visibilities"] == {"input": "public", "output": "public", "params": "fixed"}

    proof = tmp_path / "proof.json"
    proved = run_cli("prove", "mine", "--workdir", work, "--input", tmp_path / "one.json", "--out", proof, "--json")
    assert proved.code == 0, proved.stderr
    outputs = np.array(json.loads(proved.stdout)["outputs"][0])
    reference = run_onnx(
        work / "circuits" / "mine" / "network.onnx", load_single_input(tmp_path / "one.json", [[1, 5]])
    )[0]
    assert np.max(np.abs(outputs - reference)) <= summary["fidelity"]["max_abs_error"] + 1e-6
    assert run_cli("verify", "mine", "--workdir", work, "--proof", proof).code == 0


def test_second_build_redoes_no_setup(workdir_copy: Path) -> None:
    """Nothing changed: every stage is skipped and the proving key is not rewritten."""
    pk = workdir_copy / "circuits" / "fee" / "key.pk"
    before = pk.stat().st_mtime_ns
    reporter = SilentReporter()
    build_reference("fee", workdir_copy, reporter=reporter)
    statuses = dict(reporter.events)
    assert statuses["setup"] == "cached" and statuses["export"] == "cached"
    assert statuses["settings"] == "cached" and statuses["compile"] == "cached"
    assert pk.stat().st_mtime_ns == before


def test_changed_settings_rerun_downstream_stages(workdir_copy: Path) -> None:
    """A new input scale reruns settings, compile and setup, but not the export."""
    reporter = SilentReporter()
    overrides = {"settings": "manual", "input_scale": 7}
    manifest = build_reference("fee", workdir_copy, overrides=overrides, reporter=reporter)
    statuses = dict(reporter.events)
    assert statuses["export"] == "cached"
    assert statuses["settings"] == statuses["compile"] == statuses["setup"] == "done"
    assert manifest.info is not None and manifest.info.input_scales == [7]
