"""Every mistake a user can make through `prover` ends in exit 2 with one clear line.

Each test drives the real console script and checks the error names the problem (and,
where it matters, that a failed command left nothing behind). Shared reads go against
the session's `built` workdir; anything that writes or damages uses a copy.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import CliResult, assert_clean_error, manifest_of, run_cli

from models.fee import simulate_prices
from prover.evm.client import connect, contract_at, transact
from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode
from prover.evm.solc import load_artifact
from prover.ezkl_api import EZKL_VERSION


def fee_values() -> list[float]:
    """Eight in-range values for fee (the circuit's calibrated range covers them)."""
    return [-0.5, -0.25, -0.125, 0.0, 0.0625, 0.125, 0.25, 0.0]


def write_input(path: Path, values: list[float]) -> Path:
    path.write_text(json.dumps({"input_data": [values]}))
    return path


def prove_fee(workdir: Path, input_file: Path, *extra: str | Path) -> CliResult:
    return run_cli("prove", "fee", "--input", input_file, "--workdir", workdir, *extra)


# --- bad inputs -----------------------------------------------------------------------


def test_seven_values_for_fee_is_a_shape_error(built: Path, tmp_path: Path) -> None:
    """A short input must be refused by shape, before ezkl pads or misreads it."""
    input_file = write_input(tmp_path / "in.json", fee_values()[:7])
    assert_clean_error(prove_fee(built, input_file), "7 values", "[1, 8]")


def test_two_samples_is_refused_prove_takes_one(built: Path, tmp_path: Path) -> None:
    """Two concatenated samples are a valid dataset but not a single inference to prove."""
    input_file = write_input(tmp_path / "in.json", fee_values() * 2)
    assert_clean_error(prove_fee(built, input_file), "2 samples", "prove takes one")


def test_infinity_input_is_refused(built: Path, tmp_path: Path) -> None:
    """Infinity has no fixed-point encoding; it must be named, not silently clipped."""
    input_file = tmp_path / "in.json"
    input_file.write_text('{"input_data": [[0.0, 0.0, Infinity, 0.0, 0.0, 0.0, 0.0, 0.0]]}')
    assert_clean_error(prove_fee(built, input_file), "value #2 is inf", "finite")


def test_number_too_large_for_a_float_is_refused(built: Path, tmp_path: Path) -> None:
    """JSON integers are unbounded; one past float range must be an input error, not a crash."""
    input_file = tmp_path / "in.json"
    input_file.write_text('{"input_data": [[1' + "0" * 400 + ", 0, 0, 0, 0, 0, 0, 0]]}")
    assert_clean_error(prove_fee(built, input_file), "too large for a float")


def test_input_outside_calibrated_range_is_refused(built: Path, tmp_path: Path) -> None:
    """Beyond the calibrated range lookups fail or lose precision, so prove must refuse early."""
    values = fee_values()
    values[3] = 1e6
    low, high = manifest_of(built, "fee").info.input_range[0]  # type: ignore[union-attr]
    input_file = write_input(tmp_path / "in.json", values)
    assert_clean_error(prove_fee(built, input_file), "calibrated range", f"[{low:g}, {high:g}]", "1e+06")


def test_input_file_that_is_not_json_is_refused(built: Path, tmp_path: Path) -> None:
    """A garbled input file is the user's to fix: say it is not JSON."""
    input_file = tmp_path / "in.json"
    input_file.write_text("input_data: [1, 2, 3")
    assert_clean_error(prove_fee(built, input_file), "not valid JSON")


@pytest.fixture(scope="module")
def nan_prove(built: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliResult, Path, Path]:
    """One failed `prove --out X.json` with a NaN input, in a private copy of the workdir."""
    folder = tmp_path_factory.mktemp("nan")
    work = folder / "work"
    shutil.copytree(built, work)
    input_file = folder / "in.json"
    input_file.write_text('{"input_data": [[0.0, NaN, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]}')
    out = folder / "X.json"
    result = prove_fee(work, input_file, "--out", out)
    return result, out, work


def test_nan_input_is_refused(nan_prove: tuple[CliResult, Path, Path]) -> None:
    """NaN has no fixed-point encoding; the error must point at the bad value."""
    assert_clean_error(nan_prove[0], "value #1 is nan", "finite")


def test_failed_prove_leaves_no_proof_and_no_temp_files(built: Path, nan_prove: tuple[CliResult, Path, Path]) -> None:
    """A failed prove must not leave a proof, a witness or a hidden temp file a user could trust."""
    result, out, work = nan_prove
    assert result.code == 2
    assert not out.exists()
    assert not out.with_name("X.witness.json").exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in (work / "circuits" / "fee").iterdir() if p.name.startswith(".")] == []
    assert sorted(os.listdir(work / "circuits" / "fee")) == sorted(os.listdir(built / "circuits" / "fee"))


# --- missing or stale artifacts -------------------------------------------------------


def test_prove_in_empty_workdir_says_build_first(tmp_path: Path) -> None:
    """Proving before building must tell the user the exact command that fixes it."""
    input_file = write_input(tmp_path / "in.json", fee_values())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(prove_fee(empty, input_file), "no circuit 'fee'", "prover build fee")


def test_prove_without_proving_key_says_build_first(workdir_copy: Path, tmp_path: Path) -> None:
    """A deleted key.pk must name the missing file and the command that remakes it."""
    (workdir_copy / "circuits" / "fee" / "key.pk").unlink()
    input_file = write_input(tmp_path / "in.json", fee_values())
    assert_clean_error(prove_fee(workdir_copy, input_file, "--out", tmp_path / "p.json"), "key.pk", "prover build fee")


def test_ezkl_version_mismatch_is_refused_by_prove_and_verify(workdir_copy: Path, tmp_path: Path) -> None:
    """Keys and proofs are not portable across ezkl versions; both commands must say which two differ."""
    manifest_path = workdir_copy / "circuits" / "fee" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["ezkl_version"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    input_file = write_input(tmp_path / "in.json", fee_values())
    proved = prove_fee(workdir_copy, input_file, "--out", tmp_path / "p.json")
    assert_clean_error(proved, "0.0.1", EZKL_VERSION)
    assert not (tmp_path / "p.json").exists()
    proof = tmp_path / "proof.json"
    proof.write_text('{"instances": [[]], "proof": [], "hex_proof": "0x"}')
    verified = run_cli("verify", "fee", "--proof", proof, "--workdir", workdir_copy)
    assert_clean_error(verified, "0.0.1", EZKL_VERSION)


# --- build errors ---------------------------------------------------------------------


def test_build_unreadable_onnx_leaves_nothing_behind(tmp_path: Path) -> None:
    """A garbage model must fail as 'cannot load ONNX' before any circuit file is written."""
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(os.urandom(4096))
    calib = write_input(tmp_path / "calib.json", fee_values())
    result = run_cli("build", "--onnx", garbage, "--name", "bad", "--data", calib, "--workdir", tmp_path)
    assert_clean_error(result, "cannot load ONNX")
    root = tmp_path / "circuits" / "bad"
    assert not (root / "settings.json").exists()
    assert not (root / "network.onnx").exists()
    assert not root.exists() or list(root.iterdir()) == []


def test_build_private_params_on_chain_is_refused_and_keeps_artifacts(workdir_copy: Path) -> None:
    """Private params on chain let a prover pick any weights; refusing must not touch the built circuit."""
    root = workdir_copy / "circuits" / "fee"
    settings, pk = (root / "settings.json").read_bytes(), (root / "key.pk").read_bytes()
    manifest = (root / "manifest.json").read_bytes()
    result = run_cli("build", "fee", "--param-visibility", "private", "--workdir", workdir_copy)
    assert_clean_error(result, "private", "on-chain")
    assert (root / "settings.json").read_bytes() == settings
    assert (root / "key.pk").read_bytes() == pk
    assert (root / "manifest.json").read_bytes() == manifest


def test_build_unknown_model_is_refused(tmp_path: Path) -> None:
    """A typo in a model name must say it is unknown and point at `prover models`."""
    result = run_cli("build", "nosuchmodel", "--workdir", tmp_path)
    assert_clean_error(
        result, "no reference model or circuit built from your ONNX named 'nosuchmodel'", "prover models"
    )
    assert not (tmp_path / "circuits" / "nosuchmodel").exists()


# --- chain -----------------------------------------------------------------------------


@pytest.mark.slow
def test_submit_fee_before_nine_prices_is_the_pools_own_error(built: Path, tmp_path: Path) -> None:
    """A pool with 3 of its 9 prices cannot be proved over yet: the pool's NotEnoughObservations,
    one line, nothing sent (not a ValueError from encoding a half-empty window)."""
    work = tmp_path / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    with AnvilNode(tmp_path / "anvil.log") as node:
        common = ("--rpc-url", node.rpc_url, "--private-key", DEV_PRIVATE_KEY, "--workdir", work)
        deployed = run_cli("deploy", "fee", "--json", *common)
        assert deployed.code == 0, deployed.stderr
        with connect(node.rpc_url, DEV_PRIVATE_KEY) as chain:
            abi = load_artifact(work / "out" / "AdaptiveFeePool.json", "prover deploy fee")["abi"]
            pool = contract_at(chain, json.loads(deployed.stdout)["address"], abi)
            for price in simulate_prices(4, seed=3)[1:]:
                transact(chain, pool, "recordPrice", price)
            block = chain.w3.eth.block_number
            result = run_cli("submit", "fee", *common)
            assert chain.w3.eth.block_number == block  # nothing was sent
    assert_clean_error(result, "NotEnoughObservations(3, 9)")
    assert not (work / "circuits" / "fee" / "submit.proof.json").exists()


# --- help and listings ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["models", "build", "prove", "verify", "inspect", "example"])
def test_every_command_has_help(command: str) -> None:
    """--help must work without a workdir or any artifact."""
    result = run_cli(command, "--help")
    assert result.code == 0, result.stderr
    assert "Usage" in result.stdout and command in result.stdout
    assert "Traceback" not in result.stderr


def test_models_json_lists_reference_models() -> None:
    """Scripts discover buildable models from `models --json`."""
    result = run_cli("models", "--json")
    assert result.code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"fee", "digits"} <= set(rows)
    assert rows["fee"]["input_shape"] == [8]
    assert rows["digits"]["input_shape"] == [1, 8, 8]


def test_inspect_json_reports_sizes_and_fidelity(built: Path) -> None:
    """`inspect --json` is how users read logrows, key sizes and fidelity without parsing tables."""
    result = run_cli("inspect", "fee", "--workdir", built, "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    manifest = manifest_of(built, "fee")
    assert summary["name"] == "fee"
    assert summary["logrows"] == manifest.info.logrows  # type: ignore[union-attr]
    assert summary["pk_bytes"] == (built / "circuits" / "fee" / "key.pk").stat().st_size > 0
    assert summary["vk_bytes"] == (built / "circuits" / "fee" / "key.vk").stat().st_size > 0
    fidelity = summary["fidelity"]
    assert fidelity["samples"] > 0 and fidelity["max_abs_error"] >= 0
    assert 0.0 <= fidelity["agreement"] <= 1.0
