"""`prover bench market --json` measures what it says, on real anvils: gas per inference
falls with the batch size, latency and throughput come from a keeper really serving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_bench_market_reports_its_figures(batch_built: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    for name in ("fee", "fee_b4"):  # built already: the bench measures, it does not wait for builds
        shutil.copytree(batch_built / "circuits" / name, work / "circuits" / name)
    result = run_cli(
        "bench", "market", "--models", "fee", "--batches", "1,4", "--requests", "8", "--runs", "2",
        "--workdir", work, "--json", timeout=1200,
    )  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    gas = figures["gas_per_inference"]["fee"]
    assert set(gas) == {"1", "4"} and gas["4"] < gas["1"]
    detail = figures["gas"]["fee"]["4"]
    parts = detail["verify_per_inference"] + detail["bookkeeping_per_inference"]
    assert abs(detail["fulfil_per_inference"] - parts) <= 1  # integer division of one batch's gas
    assert 0 < detail["bookkeeping_per_inference"] < detail["verify_per_inference"]
    assert len(figures["latency_runs_s"]) == 2 and 0 < figures["latency_s"] < 60
    assert figures["throughput"]["requests"] == 8 and figures["inferences_per_min"] > 0


def test_bench_market_refuses_unknown_models_and_batches(tmp_path: Path) -> None:
    for args, fragment in (
        (("--models", "nope"), "--models: nope"),
        (("--batches", "1,x"), "not a list of numbers"),
        (("--batches", "1,65"), "between 1 and 64"),
    ):
        result = run_cli("bench", "market", *args, "--workdir", tmp_path)
        assert result.code == 2 and fragment in result.stderr and "Traceback" not in result.stderr, result.stderr
