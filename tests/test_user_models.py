"""A user's own ONNX model through the CLI: what issue 12 found broken, each on a model of ours.

The models come from tests/onnx_models.py (seeded, written in well under a second);
every build is the real pipeline with default settings (tuned, per-output bounds), so
each test also checks that the tuner finds a circuit for that kind of graph.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import PROVER, CliResult, assert_clean_error, manifest_of, run_cli
from onnx import TensorProto, helper
from onnx_models import MODELS
from torch import nn

from prover import export_torch
from prover.datasets import load_dataset
from prover.errors import ModelLoadError
from prover.pipeline.export import inspect_onnx, run_onnx


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user_models")


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    return folder if (folder / "network.onnx").exists() else MODELS[name](folder)


def _build(folder: Path, name: str, workdir: Path, *flags: str) -> CliResult:
    return run_cli(
        "build",
        "--onnx",
        folder / "network.onnx",
        "--name",
        name,
        "--data",
        folder / "cal.json",
        "--workdir",
        workdir,
        *flags,
    )


def _built(folder: Path, name: str, workdir: Path, *flags: str) -> dict:
    result = _build(folder, name, workdir, "--json", *flags)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _prove(name: str, workdir: Path, input_file: Path) -> dict:
    result = run_cli("prove", name, "--input", input_file, "--workdir", workdir, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _reference(folder: Path, input_file: Path) -> list[np.ndarray]:
    """onnxruntime's outputs on the one sample of `input_file`, split per output tensor."""
    signature = inspect_onnx(folder / "network.onnx")
    raw = json.loads(input_file.read_text())["input_data"]
    inputs = [
        np.asarray(values, dtype=np.float64).reshape(1, *shape)
        for values, shape in zip(raw, signature.input_shapes, strict=True)
    ]
    flat = run_onnx(folder / "network.onnx", inputs)[0]
    sizes = np.cumsum([0, *(int(np.prod(shape)) for shape in signature.output_shapes)])
    return [flat[start:end] for start, end in itertools.pairwise(sizes)]


def _assert_within_bounds(summary: dict, proved: dict, reference: list[np.ndarray]) -> None:
    """The proof's outputs agree with onnxruntime within 1% of this sample's own magnitude
    (floored at a tenth of the output's largest, as the bound is)."""
    magnitudes = {output["name"]: output["magnitude"] for output in summary["fidelity"]["outputs"]}
    for name, got, want in zip(proved["output_names"], proved["outputs"], reference, strict=True):
        allowed = 0.01 * max(np.max(np.abs(want)), 0.1 * magnitudes[name])
        assert np.max(np.abs(np.asarray(got) - want)) <= allowed + 1e-9, name


# --- inputs of every type, names from the graph -------------------------------------


def test_integer_input_model_builds_proves_verifies(model_dir: Path, tmp_path: Path) -> None:
    """TopK on int64 token ids: onnxruntime is fed int64 (a float32 feed was a traceback),
    and a circuit name may start with a digit, as ezkl's example names do."""
    folder = _folder(model_dir, "int_topk")
    summary = _built(folder, "1l_int_topk", tmp_path)
    assert summary["fidelity"]["within_bounds"]
    proved = _prove("1l_int_topk", tmp_path, folder / "input.json")
    _assert_within_bounds(summary, proved, _reference(folder, folder / "input.json"))
    assert run_cli("verify", "1l_int_topk", "--proof", proved["proof"], "--workdir", tmp_path).code == 0

    listed = json.loads(run_cli("models", "--json", "--workdir", tmp_path).stdout)
    (mine,) = [row for row in listed if row["name"] == "1l_int_topk"]
    assert mine["source"] == "onnx" and mine["input_types"] == ["int64"] and mine["built"]

    example = run_cli("example", "1l_int_topk", "--workdir", tmp_path, "--out", tmp_path / "example.json")
    assert example.code == 0, example.stderr
    assert run_cli("prove", "1l_int_topk", "--input", tmp_path / "example.json", "--workdir", tmp_path).code == 0

    fractional = json.loads((folder / "input.json").read_text())
    fractional["input_data"][0][0] = 2.5
    (tmp_path / "fractional.json").write_text(json.dumps(fractional))
    result = run_cli("prove", "1l_int_topk", "--input", tmp_path / "fractional.json", "--workdir", tmp_path)
    assert_clean_error(result, "is int64 but value #0 = 2.5 is not a whole number")


def test_multi_output_model_reports_each_output_by_name(model_dir: Path, tmp_path: Path) -> None:
    """Two heads of very different size: each is held to 1% of its own magnitude and printed by name."""
    folder = _folder(model_dir, "two_heads")
    summary = _built(folder, "two_heads", tmp_path)
    outputs = summary["fidelity"]["outputs"]
    assert [output["name"] for output in outputs] == ["value", "logits"]
    for output in outputs:
        assert output["bound"] == pytest.approx(0.01 * output["magnitude"]) and output["relative"] == 0.01
        assert output["max_abs_error"] <= output["bound"] and 0 < output["bound_used"] <= 1
    proved = _prove("two_heads", tmp_path, folder / "input.json")
    assert proved["output_names"] == ["value", "logits"] and [len(o) for o in proved["outputs"]] == [1, 3]
    _assert_within_bounds(summary, proved, _reference(folder, folder / "input.json"))

    shown = run_cli("prove", "two_heads", "--input", folder / "input.json", "--workdir", tmp_path)
    assert shown.code == 0 and "value" in shown.stdout and "logits" in shown.stdout


def test_dynamic_batch_axis_is_fixed_to_one_and_said_so(model_dir: Path, tmp_path: Path) -> None:
    """torch's usual export (dynamic_axes={'input': {0: 'batch'}}): ezkl was never told the symbol."""
    folder = _folder(model_dir, "dynamic_batch")
    result = _build(folder, "dynamic_batch", tmp_path)
    assert result.code == 0, result.stderr
    assert "dynamic axis 'batch' fixed to 1" in result.stderr
    info = manifest_of(tmp_path, "dynamic_batch").info
    assert info is not None and info.dynamic_axes == ["batch"] and info.input_shapes == [[1, 5]]
    proved = _prove("dynamic_batch", tmp_path, folder / "input.json")
    assert run_cli("verify", "dynamic_batch", "--proof", proved["proof"], "--workdir", tmp_path).code == 0


def test_single_calibration_sample_gets_a_relative_bound(model_dir: Path, tmp_path: Path) -> None:
    """One sample: the output span is 0, yet the bound is 1% of the output, not an absolute 0.01."""
    folder = _folder(model_dir, "single_sample")
    summary = _built(folder, "single_sample", tmp_path)
    (output,) = summary["fidelity"]["outputs"]
    assert summary["fidelity"]["samples"] == 1
    assert output["bound"] == pytest.approx(0.01 * output["magnitude"]) and output["bound"] < 0.01
    assert 0 < output["max_abs_error"] <= output["bound"]


def test_near_tie_classification_agrees_where_the_float_model_decides(model_dir: Path, tmp_path: Path) -> None:
    """Half the samples tie within 1e-3: with --decision argmax they are left out of agreement
    (the old default, argmax over every output flattened, found no scale at all)."""
    folder = _folder(model_dir, "near_tie")
    summary = _built(folder, "near_tie", tmp_path, "--decision", "argmax")
    fidelity = summary["fidelity"]
    assert fidelity["decision"] == "argmax" and fidelity["agreement"] == 1.0 and fidelity["within_bounds"]
    tuning = json.loads(run_cli("tune", "near_tie", "--json", "--workdir", tmp_path).stdout)["tuning"]
    assert tuning["decision"] == "argmax" and tuning["min_agreement"] == 1.0


# --- the tuner: fallbacks, budget, explain ----------------------------------------


def test_spent_budget_falls_back_to_ezkls_own_settings(model_dir: Path, tmp_path: Path) -> None:
    """With no budget the search tries nothing of its own: ezkl's calibrated settings win, and
    `tune --explain` shows every candidate and why it stopped."""
    folder = _folder(model_dir, "dynamic_batch")
    _built(folder, "nobudget", tmp_path, "--tune-budget", "0")
    tuning = manifest_of(tmp_path, "nobudget").tuning
    assert tuning is not None and tuning.winner == "ezkl"
    (ezkl_trial,) = [trial for trial in tuning.trials if trial.phase == "ezkl"]
    assert tuning.chosen is not None and tuning.chosen.logrows == ezkl_trial.layout.logrows
    assert any(trial.status == "not tried: tuning budget spent" for trial in tuning.trials)

    explained = run_cli("tune", "nobudget", "--explain", "--workdir", tmp_path)
    assert explained.code == 0, explained.stderr
    assert "why each stopped" in explained.stdout and "tuning budget spent" in explained.stdout
    assert "chosen (ezkl)" in explained.stdout


def test_max_logrows_too_small_fails_cleanly_and_keeps_the_report(model_dir: Path, tmp_path: Path) -> None:
    """Nothing fits in 2^6 rows: the error names the flag that exists, and the tuner's
    reasons stay in the manifest for `tune --explain` (they were `"tuning": null`)."""
    folder = _folder(model_dir, "two_heads")
    result = _build(folder, "tiny", tmp_path, "--max-logrows", "6")
    assert_clean_error(result, "6 logrows", "--max-logrows")
    tuning = manifest_of(tmp_path, "tiny").tuning
    assert tuning is not None and tuning.failure is not None and tuning.trials
    explained = run_cli("tune", "tiny", "--explain", "--workdir", tmp_path)
    assert explained.code == 0, explained.stderr
    assert "not sized" in explained.stdout


def test_tune_explain_before_any_build_is_a_clean_error(tmp_path: Path) -> None:
    assert_clean_error(run_cli("tune", "nothing", "--explain", "--workdir", tmp_path), "nothing")


# --- clean errors on what a circuit cannot take ------------------------------------


def _graph(path: Path, dims: list[int | str | None], elem_type: int = TensorProto.FLOAT) -> Path:
    """A one-node Identity graph whose input has `dims` (str: a named symbol, None: unnamed)."""
    shape = [dim if dim is not None else None for dim in dims]
    value = helper.make_tensor_value_info("x", elem_type, shape)
    out = helper.make_tensor_value_info("y", elem_type, shape)
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [value], [out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def test_named_leading_symbol_is_fixed_to_one(tmp_path: Path) -> None:
    signature = inspect_onnx(_graph(tmp_path / "m.onnx", ["n", 4]))
    assert signature.input_shapes == [[1, 4]] and signature.symbols == ["n"] and signature.fixed_axes == ["n"]


def test_unnamed_leading_axis_is_fixed_to_one(tmp_path: Path) -> None:
    """sklearn-onnx leaves the batch axis without a name; plain ezkl takes it as 1, so do we."""
    signature = inspect_onnx(_graph(tmp_path / "m.onnx", [None, 4]))
    assert signature.input_shapes == [[1, 4]] and signature.symbols == []
    assert signature.fixed_axes == ["x[0]"]


@pytest.mark.parametrize(
    ("dims", "fragment"),
    [([1, "width"], "dynamic dimension 'width' at its axis 1"), ([1, None], "(unnamed) at its axis 1")],
)
def test_a_symbol_that_cannot_be_fixed_is_named(tmp_path: Path, dims: list[int | str | None], fragment: str) -> None:
    with pytest.raises(ModelLoadError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        inspect_onnx(_graph(tmp_path / "m.onnx", dims))


def test_unsupported_input_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"'x' .* is of type STRING, which a circuit cannot take"):
        inspect_onnx(_graph(tmp_path / "m.onnx", [1, 4], TensorProto.STRING))


def test_build_of_a_graph_with_an_unfixable_symbol_is_a_clean_error(tmp_path: Path) -> None:
    onnx_path = _graph(tmp_path / "m.onnx", [1, "width"])
    (tmp_path / "cal.json").write_text(json.dumps({"input_data": [[0.0, 1.0]]}))
    result = run_cli(
        "build", "--onnx", onnx_path, "--name", "m", "--data", tmp_path / "cal.json", "--workdir", tmp_path
    )
    assert_clean_error(result, "'width'", "axis 1")
    assert not (tmp_path / "circuits" / "m").exists()


@pytest.mark.parametrize("spec", ["top3", "threshold:abc"])
def test_bad_decision_is_a_clean_error(model_dir: Path, tmp_path: Path, spec: str) -> None:
    folder = _folder(model_dir, "near_tie")
    assert_clean_error(_build(folder, "bad", tmp_path, "--decision", spec), "unknown decision", "--decision argmax")


def test_integer_calibration_data_must_be_whole_numbers(model_dir: Path, tmp_path: Path) -> None:
    folder = _folder(model_dir, "int_where")
    data = json.loads((folder / "cal.json").read_text())
    data["input_data"][0][3] = 0.5
    (tmp_path / "cal.json").write_text(json.dumps(data))
    result = run_cli(
        "build",
        "--onnx",
        folder / "network.onnx",
        "--name",
        "w",
        "--data",
        tmp_path / "cal.json",
        "--workdir",
        tmp_path,
    )
    assert_clean_error(result, "is int64 but value #3 = 0.5 is not a whole number")


@pytest.mark.parametrize("name", ["Upper", "has-dash", "_leading", "x" * 41])
def test_bad_circuit_name_is_a_clean_error(model_dir: Path, tmp_path: Path, name: str) -> None:
    folder = _folder(model_dir, "two_heads")
    assert_clean_error(_build(folder, name, tmp_path), "name")


# --- exporting from torch: both paths a user tries ---------------------------------


class _Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.layers = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _samples(count: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(4).normal(size=(count, 64)).astype(np.float32))


def test_export_torch_writes_a_model_onnxruntime_agrees_with(tmp_path: Path) -> None:
    """The recipe in README: fixed batch, TorchScript exporter, opset pinned, parity checked."""
    module = _Mlp().eval()
    path = export_torch(module, _samples(1), tmp_path / "mlp.onnx")
    signature = inspect_onnx(path)
    assert signature.input_names == ["input"] and signature.output_names == ["output"]
    assert onnx.load(path).opset_import[0].version == 17
    batch = _samples(5)
    with torch.no_grad():
        expected = module(batch).numpy()
    got = run_onnx(path, [batch.numpy().reshape(5, 1, 64)])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_plain_torch_onnx_export_builds_too(tmp_path: Path) -> None:
    """torch's default exporter (dynamo, via onnxscript) keeps weights in a side file: the
    build copies the model whole, so the circuit folder does not depend on that file."""
    module = _Mlp().eval()
    torch.onnx.export(module, (_samples(1),), str(tmp_path / "mlp.onnx"))
    assert (tmp_path / "mlp.onnx.data").stat().st_size > 0
    calibration = _samples(12).numpy()
    (tmp_path / "cal.json").write_text(json.dumps({"input_data": [calibration.ravel().tolist()]}))
    (tmp_path / "one.json").write_text(json.dumps({"input_data": [calibration[:1].ravel().tolist()]}))
    work = tmp_path / "work"
    result = run_cli(
        "build", "--onnx", tmp_path / "mlp.onnx", "--name", "mlp", "--data", tmp_path / "cal.json", "--workdir", work
    )
    assert result.code == 0, result.stderr
    (tmp_path / "mlp.onnx.data").unlink()
    proved = _prove("mlp", work, tmp_path / "one.json")
    with torch.no_grad():
        expected = module(torch.from_numpy(calibration[:1])).numpy().ravel()
    bound = manifest_of(work, "mlp").fidelity.outputs[0].bound  # type: ignore[union-attr]
    assert np.max(np.abs(np.asarray(proved["outputs"][0]) - expected)) <= bound + 1e-6


# --- a killed build -----------------------------------------------------------------


def test_build_killed_while_tuning_rebuilds_and_clears_its_scratch(model_dir: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle of tuning: the next build succeeds and removes the candidates
    folder the dead one left (the build lock makes that safe)."""
    folder = _folder(model_dir, "single_sample")
    root = tmp_path / "circuits" / "killed"
    command = [str(PROVER), "build", "--onnx", str(folder / "network.onnx"), "--name", "killed"]
    command += ["--data", str(folder / "cal.json"), "--workdir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(root.glob(".settings-*/*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, "the build ended before it could be killed"
    process.kill()
    process.wait()
    assert list(root.glob(".settings-*")), "a killed build leaves its scratch behind"
    rebuilt = _build(folder, "killed", tmp_path)
    assert rebuilt.code == 0, rebuilt.stderr
    assert not list(root.glob(".settings-*"))
    assert run_cli("prove", "killed", "--input", folder / "input.json", "--workdir", tmp_path).code == 0


def test_json_booleans_are_read_as_one_and_zero(tmp_path: Path) -> None:
    """ezkl's own input files hold true/false for boolean inputs (its `boolean` example)."""
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"input_data": [[False, True, True], [1, 0, 1]]}))
    first, second = load_dataset(path, [[1, 3], [1, 3]])
    assert first.ravel().tolist() == [0, 1, 1] and second.ravel().tolist() == [1, 0, 1]
