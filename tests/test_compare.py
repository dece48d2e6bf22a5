"""`prover compare`: variants parse strictly, every row is measured for real, reruns are cached."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import SMALL_VARIANTS, assert_clean_error, manifest_of, run_cli

from prover.errors import SettingsError
from prover.measure.compare import CompareRow
from prover.measure.variants import parse_variant, plan_rows


def test_variants_parse_into_overrides_and_batch() -> None:
    assert parse_variant("tuned").overrides == {"settings": "tuned"}
    combined = parse_variant("hashed-params+batch-4")
    assert combined.overrides == {"param_visibility": "hashed"} and combined.batch == 4
    assert combined.label == "hashed-params+batch-4"
    assert parse_variant(" Hashed-Inputs ").overrides == {"input_visibility": "hashed"}
    for bad in ("hashed-weights", "batch-0", "batch-65", "", "tuned+"):
        if bad == "tuned+":
            assert parse_variant(bad).label == "tuned"
            continue
        with pytest.raises(SettingsError):
            parse_variant(bad)


def test_plan_reuses_the_models_own_circuit_only_when_nothing_differs(workdir_copy: Path) -> None:
    plans = plan_rows(["fee"], ["tuned", "ezkl-default", "hashed-params+batch-4"], workdir_copy)
    assert [plan.circuit for plan in plans] == ["fee", "fee__ezkl_default", "fee__hashed_params__batch_4"]
    # a build of fee with other options is left alone: compare builds its own tuned copy
    manifest = manifest_of(workdir_copy, "fee")
    changed = manifest.model_copy(update={"config": manifest.config.model_copy(update={"input_scale": 9})})
    (workdir_copy / "circuits" / "fee" / "manifest.json").write_text(changed.model_dump_json())
    assert plan_rows(["fee"], ["tuned"], workdir_copy)[0].circuit == "fee__tuned"


@pytest.mark.slow
def test_bad_requests_fail_before_anything_is_built(tmp_path: Path) -> None:
    assert_clean_error(
        run_cli("compare", "fee", "--variants", "tuned,hashed-weights", "--workdir", tmp_path),
        "unknown variant 'hashed-weights'",
    )
    assert_clean_error(run_cli("compare", "nosuch", "--workdir", tmp_path), "unknown model 'nosuch'")
    assert_clean_error(
        run_cli("compare", "fee", "--out", tmp_path / "rows.xlsx", "--workdir", tmp_path), ".csv or .json"
    )
    assert not (tmp_path / "circuits").exists()


def test_user_models_cannot_be_batched(workdir_copy: Path) -> None:
    manifest = manifest_of(workdir_copy, "fee")
    user = manifest.model_copy(update={"source": "onnx", "name": "mine"})
    (workdir_copy / "circuits" / "mine").mkdir()
    (workdir_copy / "circuits" / "mine" / "manifest.json").write_text(user.model_dump_json())
    with pytest.raises(SettingsError, match="batch size is fixed"):
        plan_rows(["mine"], ["batch-2"], workdir_copy)


@pytest.mark.slow
def test_compare_measures_every_row_then_reruns_from_cache(compare_workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = run_cli(
        "compare", "fee", "--variants", SMALL_VARIANTS, "--runs", "2", "--out", out, "--workdir", compare_workdir
    )
    assert result.code == 0, result.stderr
    assert "proofs side by side" in result.stdout and "fee" in result.stdout
    with open(out, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["variant"] for row in table] == SMALL_VARIANTS.split(",")
    rows = {
        row["variant"]: CompareRow.model_validate({**row, "prove_runs_s": row["prove_runs_s"].split()}) for row in table
    }
    for row in rows.values():
        assert len(row.prove_runs_s) == 2 and min(row.prove_runs_s) <= row.prove_s <= max(row.prove_runs_s)
        for field in (
            "logrows",
            "rows",
            "peak_rss_bytes",
            "pk_bytes",
            "vk_bytes",
            "proof_bytes",
            "verify_gas",
            "deploy_gas",
            "runtime_bytes",
        ):
            assert getattr(row, field) > 0, (row.variant, field)
        assert row.agreement == 1.0 and row.max_abs_error < 0.01 and row.fits_eip170
        assert not row.cached
    assert rows["tuned"].circuit == "fee"
    assert rows["hashed-inputs"].input_visibility == "hashed" and rows["tuned"].input_visibility == "public"
    assert rows["hashed-inputs"].verify_gas > rows["tuned"].verify_gas  # the verifier checks a Poseidon hash
    batch = rows["batch-2"]
    assert batch.batch == 2 and batch.gas_per_inference == round(batch.verify_gas / 2)
    assert batch.gas_per_inference < rows["tuned"].verify_gas
    assert batch.heldout_inferences == 2 * (rows["tuned"].heldout_inferences // 2)

    rerun = run_cli(
        "compare", "fee", "--variants", SMALL_VARIANTS, "--runs", "2", "--json", "--workdir", compare_workdir
    )
    assert rerun.code == 0, rerun.stderr
    again = [CompareRow.model_validate(row) for row in json.loads(rerun.stdout)]
    assert all(row.cached for row in again)
    assert [row.verify_gas for row in again] == [rows[v].verify_gas for v in SMALL_VARIANTS.split(",")]


@pytest.mark.slow
def test_a_different_measurement_or_damaged_cache_remeasures(compare_workdir: Path) -> None:
    """The cache key holds the runs count (and every artifact's hash); a damaged cache file is ignored."""

    def compare_tuned() -> dict[str, object]:
        result = run_cli("compare", "fee", "--variants", "tuned", "--runs", "1", "--json", "--workdir", compare_workdir)
        assert result.code == 0, result.stderr
        (row,) = json.loads(result.stdout)
        return dict(row)

    first = compare_tuned()
    assert first["cached"] is False and len(first["prove_runs_s"]) == 1  # measured with --runs 2 before
    (compare_workdir / "circuits" / "fee" / "compare.json").write_text("{not json")
    assert compare_tuned()["cached"] is False
    assert compare_tuned()["cached"] is True
