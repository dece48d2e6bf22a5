"""`prover prove` / `prover verify` end to end, and what verify says about tampered proofs.

Exit codes are the contract here: 0 a valid proof, 1 a well-formed proof that does not
verify, 2 something that is not a proof for this circuit at all. Each proof is made
once per module (proving is the slow part) in a private copy of the built workdir.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CliResult, assert_clean_error, manifest_of, run_cli

from prover import ezkl_api
from prover.errors import CircuitError
from prover.pipeline.export import run_onnx
from prover.proving.circuit import open_circuit
from prover.proving.field import FIELD_MODULUS


def felt_int(felt: str) -> int:
    """A proof instance (32 little-endian bytes in hex) as an integer."""
    return int.from_bytes(bytes.fromhex(felt), "little")


def felt_hex(value: int) -> str:
    return value.to_bytes(32, "little").hex()


def input_values(path: Path) -> list[float]:
    return json.loads(path.read_text())["input_data"][0]


@pytest.fixture(scope="module")
def work(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module-private copy of the built workdir: proving and verifying append to ezkl.log."""
    target = tmp_path_factory.mktemp("tamper") / "work"
    shutil.copytree(built, target)
    return target


@pytest.fixture(scope="module")
def fee_run(work: Path) -> tuple[CliResult, Path, Path]:
    """`prove fee --json` on the reference example: (result, input file, proof file)."""
    folder = work.parent
    input_file, proof = folder / "fee_input.json", folder / "proofs" / "fee.json"
    assert run_cli("example", "fee", "--out", input_file).code == 0
    result = run_cli("prove", "fee", "--input", input_file, "--out", proof, "--workdir", work, "--json")
    assert result.code == 0, result.stderr
    return result, input_file, proof


@pytest.fixture(scope="module")
def digits_run(work: Path) -> tuple[CliResult, Path, Path]:
    """`prove digits` with human output: (result, input file, proof file)."""
    folder = work.parent
    input_file, proof = folder / "digits_input.json", folder / "proofs" / "digits.json"
    assert run_cli("example", "digits", "--out", input_file).code == 0
    result = run_cli("prove", "digits", "--input", input_file, "--out", proof, "--workdir", work)
    assert result.code == 0, result.stderr
    return result, input_file, proof


@pytest.fixture
def fee_proof(fee_run: tuple[CliResult, Path, Path]) -> dict[str, Any]:
    """A fresh parsed copy of the valid fee proof, for a test to tamper with."""
    return json.loads(fee_run[2].read_text())


def write_proof(tmp_path: Path, document: dict[str, Any], name: str = "tampered.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def verify_fee(work: Path, proof: Path, *extra: str) -> CliResult:
    return run_cli("verify", "fee", "--proof", proof, "--workdir", work, *extra)


def assert_does_not_verify(result: CliResult) -> None:
    """Exit 1: a well-formed proof that is simply false; not an error report."""
    assert result.code == 1, (result.code, result.stderr)
    assert "does not verify" in result.stdout
    assert "error:" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --- valid proofs ---------------------------------------------------------------------


def test_valid_fee_proof_verifies(work: Path, fee_run: tuple[CliResult, Path, Path]) -> None:
    """An honest proof must be accepted, or the whole toolkit is useless."""
    result = verify_fee(work, fee_run[2])
    assert result.code == 0, result.stderr
    assert "valid proof for fee" in result.stdout
    assert "Traceback" not in result.stderr


def test_valid_fee_proof_verifies_with_json(work: Path, fee_run: tuple[CliResult, Path, Path]) -> None:
    """Scripts read --json on stdout; it must say valid and nothing else may pollute stdout."""
    result = verify_fee(work, fee_run[2], "--json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["valid"] is True
    assert document["proof"] == str(fee_run[2])
    assert document["verify_seconds"] >= 0


def test_prove_json_prints_outputs_close_to_onnxruntime(built: Path, fee_run: tuple[CliResult, Path, Path]) -> None:
    """The proved output must be the model's output, within the fidelity the build reported."""
    result, input_file, proof = fee_run
    document = json.loads(result.stdout)
    assert Path(document["proof"]) == proof.resolve()
    assert document["proof_bytes"] > 0 and document["file_bytes"] == proof.stat().st_size
    outputs = np.asarray(document["outputs"], dtype=np.float64).ravel()
    x = np.asarray(input_values(input_file), dtype=np.float64).reshape(1, 8)
    expected = run_onnx(built / "circuits" / "fee" / "network.onnx", [x]).ravel()
    fidelity = manifest_of(built, "fee").fidelity
    assert fidelity is not None
    assert outputs.shape == expected.shape
    assert np.max(np.abs(outputs - expected)) <= fidelity.max_abs_error + 1e-6


def test_prove_table_prints_rescaled_outputs(built: Path, digits_run: tuple[CliResult, Path, Path]) -> None:
    """Without --json, prove shows the rescaled outputs a human can check against the model."""
    result, input_file, proof = digits_run
    assert proof.exists()
    info = manifest_of(built, "digits").info
    assert info is not None and len(info.output_names) == 1  # one row, named as in the ONNX graph
    row = next(line for line in result.stdout.splitlines() if line.startswith(f"│ {info.output_names[0]} "))
    printed = np.asarray([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", row)])
    x = np.asarray(input_values(input_file), dtype=np.float64).reshape(1, 1, 8, 8)
    expected = run_onnx(built / "circuits" / "digits" / "network.onnx", [x]).ravel()
    fidelity = manifest_of(built, "digits").fidelity
    assert fidelity is not None
    assert printed.shape == expected.shape == (10,)
    # values are printed with 6 significant digits: allow that rounding on top
    tolerance = fidelity.max_abs_error + 1e-6 + 5e-6 * np.abs(expected)
    assert np.all(np.abs(printed - expected) <= tolerance), (printed, expected)
    assert str(proof.resolve()) in result.stdout


# --- well-formed but false: exit 1 ----------------------------------------------------


def test_flipped_proof_byte_does_not_verify(work: Path, fee_proof: dict[str, Any], tmp_path: Path) -> None:
    """A single changed proof byte must be caught, not accepted and not reported as malformed."""
    raw = bytearray(fee_proof["proof"])
    raw[len(raw) // 2] ^= 0x01
    fee_proof["proof"] = list(raw)
    fee_proof["hex_proof"] = "0x" + bytes(raw).hex()
    assert_does_not_verify(verify_fee(work, write_proof(tmp_path, fee_proof)))


def test_changed_public_input_does_not_verify(work: Path, fee_proof: dict[str, Any], tmp_path: Path) -> None:
    """A proof must not vouch for an input other than the one it was made for."""
    first = fee_proof["instances"][0][0]
    changed = felt_hex((felt_int(first) + 1) % FIELD_MODULUS)
    assert changed != first and felt_int(changed) < FIELD_MODULUS
    fee_proof["instances"][0][0] = changed
    assert_does_not_verify(verify_fee(work, write_proof(tmp_path, fee_proof)))


@pytest.mark.parametrize("change", ["64 zero bytes appended", "one zero word appended", "last 64 bytes cut"])
def test_proof_of_the_wrong_length_does_not_verify(
    work: Path, fee_proof: dict[str, Any], tmp_path: Path, change: str
) -> None:
    """halo2 ignores trailing bytes but the Solidity verifier takes one exact length: verify
    must give the on-chain verdict (invalid, exit 1) and say why."""
    raw = bytes(fee_proof["proof"])
    changed = {
        "64 zero bytes appended": raw + bytes(64),
        "one zero word appended": raw + bytes(32),
        "last 64 bytes cut": raw[:-64],
    }[change]
    fee_proof["proof"], fee_proof["hex_proof"] = list(changed), "0x" + changed.hex()
    path = write_proof(tmp_path, fee_proof)
    result = verify_fee(work, path)
    assert_does_not_verify(result)
    if len(changed) > len(raw):
        assert f"it has {len(changed)} bytes of proof" in result.stdout
        assert f"takes exactly {len(raw)}" in result.stdout
    document = json.loads(verify_fee(work, path, "--json").stdout)
    assert document["valid"] is False


@pytest.fixture
def fee_only(work: Path, tmp_path: Path) -> Path:
    """A private copy of the fee circuit alone, for a test that damages it."""
    target = tmp_path / "damaged"
    shutil.copytree(work / "circuits" / "fee", target / "circuits" / "fee")
    return target


@pytest.mark.parametrize("damage", ["vk truncated", "vk emptied", "settings emptied", "settings deleted"])
def test_damaged_circuit_is_an_error_not_a_verdict(
    fee_only: Path, fee_run: tuple[CliResult, Path, Path], damage: str
) -> None:
    """A valid proof checked against a damaged vk or settings says nothing about the proof:
    exit 2 naming the file, never 'invalid' (exit 1)."""
    root = fee_only / "circuits" / "fee"
    name = "key.vk" if damage.startswith("vk") else "settings.json"
    if damage.endswith("deleted"):
        (root / name).unlink()
    else:
        data = (root / name).read_bytes()
        (root / name).write_bytes(data[: len(data) // 2] if damage.endswith("truncated") else b"")
    result = verify_fee(fee_only, fee_run[2])
    assert_clean_error(result, "settings" if name == "settings.json" else "vk", "prover build fee")
    assert "invalid" not in result.stdout


def test_settings_deleted_while_ezkl_verifies_is_an_error(
    work: Path, fee_run: tuple[CliResult, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settings.json removed after the proof was parsed, before ezkl reads it: still an error."""
    shutil.copytree(work / "circuits" / "fee", tmp_path / "circuits" / "fee")
    circuit = open_circuit("fee", tmp_path)
    real_verify = ezkl_api.verify

    def verify_after_deletion(proof: Path, settings: Path, vk: Path, srs: Path, log: Path) -> bool:
        settings.unlink()
        return real_verify(proof, settings, vk, srs, log)

    monkeypatch.setattr(ezkl_api, "verify", verify_after_deletion)
    with pytest.raises(CircuitError, match="ezkl verify could not run"):
        circuit.verify(fee_run[2])


# --- not a proof for this circuit: exit 2 ---------------------------------------------


def test_digits_proof_for_fee_is_foreign(work: Path, digits_run: tuple[CliResult, Path, Path]) -> None:
    """A proof of another circuit is a usage mistake (exit 2), not a forged proof (exit 1)."""
    assert_clean_error(verify_fee(work, digits_run[2]), "another circuit")


def test_non_json_proof_file_is_refused(work: Path, tmp_path: Path) -> None:
    """A file that is not JSON at all must be named as such, not crash the verifier."""
    path = tmp_path / "proof.json"
    path.write_bytes(b"\x00\x01 this is not json {")
    assert_clean_error(verify_fee(work, path), "is not valid JSON")


def test_json_without_instances_is_refused(work: Path, fee_proof: dict[str, Any], tmp_path: Path) -> None:
    """JSON that lacks the public instances cannot be a proof."""
    del fee_proof["instances"]
    assert_clean_error(verify_fee(work, write_proof(tmp_path, fee_proof)), "no instances")


def test_instance_at_or_above_modulus_is_refused(work: Path, fee_proof: dict[str, Any], tmp_path: Path) -> None:
    """A non-canonical instance aliases a valid one; it must be rejected before ezkl reduces it."""
    fee_proof["instances"][0][0] = felt_hex(FIELD_MODULUS)
    assert_clean_error(verify_fee(work, write_proof(tmp_path, fee_proof)), "not a canonical field element")


def test_disagreeing_proof_and_hex_proof_are_refused(work: Path, fee_proof: dict[str, Any], tmp_path: Path) -> None:
    """A proof whose two encodings differ is corrupt: which one would a contract see?"""
    raw = bytearray(fee_proof["proof"])
    raw[0] ^= 0xFF
    fee_proof["hex_proof"] = "0x" + bytes(raw).hex()
    assert_clean_error(verify_fee(work, write_proof(tmp_path, fee_proof)), "hex_proof fields differ")


def test_nonexistent_proof_path_is_refused(work: Path, tmp_path: Path) -> None:
    """A mistyped path must say the file is missing, not that the proof is invalid."""
    missing = tmp_path / "nope" / "proof.json"
    assert_clean_error(verify_fee(work, missing), "does not exist", str(missing))


def test_non_hex_hex_proof_is_refused(work: Path, fee_proof: dict[str, Any], tmp_path: Path) -> None:
    """A garbled hex_proof is a corrupt file (exit 2), not a proof that fails to verify."""
    fee_proof["hex_proof"] = "0xzz"
    assert_clean_error(verify_fee(work, write_proof(tmp_path, fee_proof)), "not a hex string")
