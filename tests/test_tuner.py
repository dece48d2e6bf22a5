"""The settings tuner, the sizing it relies on, the ezkl baseline, and `prover bench`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ezkl
import pytest
from conftest import assert_clean_error, manifest_of, run_cli
from test_pipeline import _export_user_model

from prover.artifacts import circuit_paths, sha256_file
from prover.config import CircuitConfig, Layout
from prover.datasets import load_dataset
from prover.errors import SettingsError
from prover.pipeline.builds import build_reference
from prover.pipeline.export import inspect_onnx
from prover.pipeline.finalists import objective_key
from prover.pipeline.sizing import candidate_paths, size_layout, stress_set
from prover.progress import SilentReporter

LAYOUT_FIELDS = (
    "input_scale",
    "param_scale",
    "scale_rebase_multiplier",
    "decomp_base",
    "decomp_legs",
    "num_inner_cols",
    "logrows",
)


@pytest.mark.parametrize("name", ["fee", "digits"])
def test_tuned_build_records_its_search_and_keeps_every_decision(built: Path, name: str) -> None:
    """Every phase is in the manifest, one finalist is chosen, and it is what was built."""
    manifest = manifest_of(built, name)
    tuning, info, fidelity = manifest.tuning, manifest.info, manifest.fidelity
    assert tuning is not None and info is not None and fidelity is not None
    assert {trial.phase for trial in tuning.trials} == {"ezkl", "scales", "layout", "finalist"}
    pruned = [t for t in tuning.trials if t.phase == "scales" and t.status != "passed"]
    assert all(t.status for t in pruned)
    chosen = [t for t in tuning.trials if t.status == "chosen"]
    assert len(chosen) == 1 and chosen[0].prove_s is not None and chosen[0].pk_bytes is not None
    for field in LAYOUT_FIELDS:
        assert getattr(info.layout, field) == getattr(tuning.chosen, field) == getattr(chosen[0].layout, field)
    measured = [t for t in tuning.trials if t.phase == "finalist" and t.status in ("measured", "chosen")]
    key = objective_key(tuning.objective, measured)
    assert key(chosen[0]) == min(map(key, measured))
    assert fidelity.dataset == "heldout" and fidelity.agreement == 1.0  # the default bound: every decision kept
    assert manifest.files["pk"].bytes == chosen[0].pk_bytes


def test_sizing_agrees_with_ezkl_calibration(built: Path, tmp_path: Path) -> None:
    """For one fixed layout our measured logrows equal what ezkl's own calibration picks."""
    source = circuit_paths(built, "fee")
    config = CircuitConfig()
    calibration = load_dataset(source.calibration, inspect_onnx(source.onnx).input_shapes)
    layout = Layout(input_scale=8, param_scale=8, scale_rebase_multiplier=10, decomp_base=1024, decomp_legs=3)
    ours = size_layout(
        candidate_paths(tmp_path, "ours", source), config, layout, stress_set(calibration, calibration, 2), 20
    )

    theirs = tmp_path / "ezkl-settings.json"
    args = ezkl.PyRunArgs()
    args.input_visibility, args.output_visibility, args.param_visibility = "public", "public", "fixed"
    args.decomp_base, args.decomp_legs, args.num_inner_cols = 1024, 3, 1
    ezkl.gen_settings(str(source.onnx), str(theirs), py_run_args=args)
    ezkl.calibrate_settings(
        str(source.calibration), str(source.onnx), str(theirs), "resources", scales=[8], scale_rebase_multiplier=[10]
    )
    assert ours.logrows == json.loads(theirs.read_text())["run_args"]["logrows"]


def test_layout_that_overflows_is_refused(built: Path, tmp_path: Path) -> None:
    source = circuit_paths(built, "fee")
    calibration = load_dataset(source.calibration, inspect_onnx(source.onnx).input_shapes)
    tiny = Layout(input_scale=8, param_scale=8, decomp_base=64, decomp_legs=2)
    with pytest.raises(SettingsError, match="overflows"):
        size_layout(
            candidate_paths(tmp_path, "tiny", source),
            CircuitConfig(),
            tiny,
            stress_set(calibration, calibration, 2),
            20,
        )


def test_manual_settings_are_used_exactly(workdir_copy: Path) -> None:
    overrides = {
        "settings": "manual",
        "input_scale": 8,
        "param_scale": 10,
        "decomp_base": 1024,
        "decomp_legs": 3,
        "num_inner_cols": 1,
    }
    manifest = build_reference("fee", workdir_copy, overrides=overrides, reporter=SilentReporter())
    assert manifest.tuning is None and manifest.info is not None
    layout = manifest.info.layout
    assert (layout.input_scale, layout.param_scale, layout.decomp_base, layout.decomp_legs) == (8, 10, 1024, 3)
    assert manifest.info.logrows == 11


@pytest.mark.slow
def test_ezkl_default_is_plain_gen_settings_and_calibrate(tmp_path: Path) -> None:
    """The baseline is what a user gets from ezkl itself, visibilities aside."""
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
        "--settings",
        "ezkl-default",
        "--workdir",
        work,
    )
    assert built.code == 0, built.stderr
    plain = tmp_path / "plain.json"
    args = ezkl.PyRunArgs()
    args.input_visibility, args.output_visibility, args.param_visibility = "public", "public", "fixed"
    ezkl.gen_settings(str(onnx_path), str(plain), py_run_args=args)
    ezkl.calibrate_settings(str(calib), str(onnx_path), str(plain), "resources")
    ours = json.loads((work / "circuits" / "mine" / "settings.json").read_text())["run_args"]
    theirs = json.loads(plain.read_text())["run_args"]
    for key in (
        "logrows",
        "input_scale",
        "param_scale",
        "scale_rebase_multiplier",
        "decomp_base",
        "decomp_legs",
        "num_inner_cols",
        "lookup_range",
    ):
        assert ours[key] == theirs[key], key


@pytest.mark.slow
def test_impossible_bound_is_a_clean_error_and_keeps_the_circuit(workdir_copy: Path) -> None:
    settings = workdir_copy / "circuits" / "fee" / "settings.json"
    before = sha256_file(settings)
    result = run_cli("tune", "fee", "--max-error", "1e-9", "--workdir", workdir_copy)
    assert_clean_error(result, "no scale in the search keeps the accuracy bounds")
    assert sha256_file(settings) == before
    assert not any(p.name.startswith(".settings-") for p in settings.parent.iterdir())


def test_unknown_objective_is_a_clean_error(tmp_path: Path) -> None:
    """Refused by the option's choices before any work, naming them (a usage error, exit 2)."""
    result = run_cli("build", "fee", "--objective", "cheapest", "--workdir", tmp_path)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "'cheapest' is not one of 'prove', 'gas', 'balanced'" in result.stderr, result.stderr
    assert not (tmp_path / "circuits").exists()


def test_tune_reports_finalists(workdir_copy: Path) -> None:
    """Same bounds as the build: the cached search is reported, not rerun."""
    result = run_cli("tune", "fee", "--json", "--workdir", workdir_copy)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["tuning"]["chosen"]["logrows"] == manifest_of(workdir_copy, "fee").info.logrows
    assert any(trial["status"] == "chosen" for trial in document["tuning"]["trials"])


@pytest.mark.slow
def test_bench_measures_both_circuits_side_by_side(workdir_copy: Path) -> None:
    result = run_cli("bench", "fee", "--runs", "1", "--json", "--workdir", workdir_copy)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    for variant in ("baseline", "tuned"):
        entry = document[variant]
        for key in (
            "prove_s",
            "peak_rss_bytes",
            "pk_bytes",
            "verify_gas",
            "logrows",
            "max_abs_error",
            "agreement",
            "setup_s",
        ):
            assert entry[key] is not None and entry[key] > 0, (variant, key)
    assert document["baseline"]["settings"] == "ezkl-default" and document["tuned"]["settings"] == "tuned"
    ratios = document["ratios"]
    assert ratios["pk_bytes"] == round(document["baseline"]["pk_bytes"] / document["tuned"]["pk_bytes"], 2)
    assert document["tuned"]["logrows"] < document["baseline"]["logrows"]
    shutil.rmtree(workdir_copy / "circuits" / "fee__ezkl_default")
