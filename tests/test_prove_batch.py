"""`prover prove-batch`: many inputs, a pool of workers, every proof real and verifiable.

Inputs are held-out fee samples encoded exactly as `prover example` writes them. The
batch runs through the real console script against the session's `built` workdir; its
proofs go to a per-test folder, so the shared workdir is only read.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CliResult, assert_clean_error, run_cli

from models import get_model
from prover.cli.prove_commands import parse_bytes
from prover.proving.circuit import open_circuit
from prover.proving.memory import predict_worker_bytes, staged_bytes, threads_per_worker
from prover.proving.prove import write_input


def fee_inputs(folder: Path, count: int) -> list[Path]:
    """`count` held-out fee samples, one file each, as `prover example fee --index i` writes."""
    heldout = get_model("fee").heldout_set()
    files = []
    for index in range(count):
        path = folder / f"sample{index:02d}.json"
        write_input(path, [heldout[index : index + 1]])
        files.append(path)
    return files


def prove_batch(workdir: Path, inputs: Path, out: Path, *extra: str) -> CliResult:
    return run_cli("prove-batch", "fee", "--inputs", inputs, "--out", out, "--workdir", workdir, "--json", *extra)


def test_six_inputs_two_workers_every_proof_verifies(built: Path, tmp_path: Path) -> None:
    """The whole point: N proofs from a pool, each one a valid proof of its own input."""
    inputs, out = tmp_path / "inputs", tmp_path / "proofs"
    inputs.mkdir()
    files = fee_inputs(inputs, 6)
    result = prove_batch(built, inputs, out, "--workers", "2")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["proofs"] == 6 and document["failed"] == []
    assert document["workers"] == 2 and document["requested_workers"] == 2
    assert document["proofs_per_minute"] > 0 and document["seconds"] > 0
    assert document["predicted_worker_bytes"] > 0 and document["available_bytes"] > 0
    assert "proving" in result.stderr and "6/6" in result.stderr  # the progress bar, on stderr
    expected = sorted(f"{path.stem}.proof.json" for path in files)
    assert sorted(p.name for p in out.iterdir()) == expected  # atomic writes leave no temp files
    circuit = open_circuit("fee", built)
    for name in expected:
        assert circuit.verify(out / name).valid, name


def test_bad_inputs_are_reported_and_the_rest_proved(built: Path, tmp_path: Path) -> None:
    """One line per bad file, exit 1, and every good input still gets its proof."""
    inputs, out = tmp_path / "inputs", tmp_path / "proofs"
    inputs.mkdir()
    good = fee_inputs(inputs, 3)
    (inputs / "infinite.json").write_text('{"input_data": [[0, 0, Infinity, 0, 0, 0, 0, 0]]}')
    (inputs / "short.json").write_text('{"input_data": [[0, 0, 0]]}')
    (inputs / "broken.json").write_text("{not json")
    result = prove_batch(built, inputs, out, "--workers", "2")
    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert document["proofs"] == 3
    failed = {Path(entry["input"]).name: entry["error"] for entry in document["failed"]}
    assert set(failed) == {"infinite.json", "short.json", "broken.json"}
    assert "value #2 is inf" in failed["infinite.json"] and "3 values" in failed["short.json"]
    failure_lines = [line for line in result.stderr.splitlines() if line.startswith("✗")]
    assert len(failure_lines) == 3 and all(len(line) < 300 for line in failure_lines)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.proof.json" for p in good)


def test_workers_are_lowered_when_memory_is_short(built: Path, tmp_path: Path) -> None:
    """A limit that holds one worker's predicted peak but not two: one worker, and a warning."""
    inputs, out = tmp_path / "inputs", tmp_path / "proofs"
    inputs.mkdir()
    fee_inputs(inputs, 2)
    circuit = open_circuit("fee", built)
    staged = staged_bytes(circuit.paths, circuit.srs_path())
    one_worker = predict_worker_bytes(staged, threads_per_worker(1))
    assert 2 * predict_worker_bytes(staged, threads_per_worker(2)) > one_worker
    result = prove_batch(built, inputs, out, "--workers", "2", "--memory-limit", str(one_worker))
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["workers"] == 1 and document["requested_workers"] == 2 and document["proofs"] == 2
    assert document["available_bytes"] == one_worker
    assert "warning:" in result.stderr and "lowered workers from 2 to 1" in result.stderr


def test_unbuilt_circuit_is_a_clean_error(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    fee_inputs(inputs, 1)
    result = prove_batch(tmp_path / "empty", inputs, tmp_path / "proofs")
    assert_clean_error(result, "no circuit 'fee'", "prover build fee")


def test_missing_or_empty_input_folder_is_a_clean_error(built: Path, tmp_path: Path) -> None:
    assert_clean_error(prove_batch(built, tmp_path / "nowhere", tmp_path / "proofs"), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_clean_error(prove_batch(built, tmp_path / "empty", tmp_path / "proofs"), "no *.json inputs")


def test_memory_limit_sizes() -> None:
    assert parse_bytes("123456") == 123456
    assert parse_bytes("512M") == 512 << 20 and parse_bytes("1.5GiB") == 3 << 29
