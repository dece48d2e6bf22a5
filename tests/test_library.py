"""The library's shape: the public API, the lean proving path, the measuring child, the field
codec and the proving backends, each checked the way a user or a worker would meet it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ezkl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prover
from models import get_model
from prover.errors import ProverError
from prover.progress import SilentReporter
from prover.proving.backends import InProcessBackend
from prover.proving.batch import prove_batch
from prover.proving.circuit import open_circuit
from prover.proving.field import FIELD_MODULUS, felt_from_hex, felt_to_hex, from_signed, hex_to_float, to_signed

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )


def test_public_api_names_resolve_lazily() -> None:
    """`import prover` loads nothing heavy; every advertised name resolves on first use."""
    done = run_python("import sys, prover; print(sorted(m for m in ('torch', 'web3', 'ezkl') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    for name in prover.__all__:
        assert getattr(prover, name) is not None, name
    with pytest.raises(AttributeError):
        _ = prover.no_such_name  # type: ignore[attr-defined]


def test_proving_path_never_loads_torch_or_web3() -> None:
    """What a spawned proving worker and the measuring child import, at run time."""
    code = (
        "import sys, prover.proving.pool, prover.proving.batch, prover.measure.child\n"
        "print(sorted(m for m in ('torch', 'web3', 'onnxruntime', 'rich') if m in sys.modules))"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_measuring_child_is_an_entry_point(built: Path, tmp_path: Path) -> None:
    """`python -m prover.measure.child`: figures as one JSON line; misuse and bad input are one line."""
    idle = subprocess.run(
        [sys.executable, "-m", "prover.measure.child", "--idle"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert idle.returncode == 0 and json.loads(idle.stdout)["peak_rss_bytes"] > 0
    sample = tmp_path / "input.json"
    prover.write_input(sample, [get_model("fee").heldout_set()[:1]])
    proved = subprocess.run(
        [sys.executable, "-m", "prover.measure.child", str(built), "fee", str(sample), str(tmp_path / "p.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proved.returncode == 0, proved.stderr
    figures = json.loads(proved.stdout)
    assert figures["prove_s"] > 0 and figures["peak_rss_bytes"] > json.loads(idle.stdout)["peak_rss_bytes"]
    usage = subprocess.run(
        [sys.executable, "-m", "prover.measure.child", "only-one"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 2 and "usage" in usage.stderr
    sample.write_text('{"input_data": [[1, 2]]}')
    refused = subprocess.run(
        [sys.executable, "-m", "prover.measure.child", str(built), "fee", str(sample), str(tmp_path / "q.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2 and refused.stderr.startswith("error:") and "Traceback" not in refused.stderr


@settings(max_examples=200, deadline=None)
@given(value=st.integers(min_value=-(2**100), max_value=2**100), scale=st.integers(min_value=0, max_value=20))
def test_field_codec_matches_ezkl(value: int, scale: int) -> None:
    """One codec for every instance: signed round trip, ezkl's hex, and ezkl's own quantisation
    of the float a consumer hands the prover (exact below 2^53)."""
    felt = from_signed(value)
    assert 0 <= felt < FIELD_MODULUS and to_signed(felt) == value
    assert felt_from_hex(felt_to_hex(felt)) == felt
    if abs(value) < 2**53:
        assert hex_to_float(felt_to_hex(felt), scale) == value / 2**scale
        assert ezkl.float_to_felt(value / 2**scale, scale) == felt_to_hex(felt)


def test_build_returns_an_open_circuit_that_proves_and_verifies(built: Path, tmp_path: Path) -> None:
    """The library's one-call path: build (cached here), prove, verify, summary."""
    circuit = prover.build("fee", built)
    assert circuit.name == "fee" and circuit.summary()["logrows"] == circuit.info.logrows
    sample = tmp_path / "input.json"
    prover.write_input(sample, [get_model("fee").heldout_set()[:1]])
    result = circuit.prove(sample, tmp_path / "proof.json")
    assert circuit.verify(result.proof_path).valid
    assert circuit.read_proof(result.proof_path) == result.proof  # parsed once, read back the same
    with pytest.raises(ProverError, match="needs calibration data"):
        prover.build("mine", tmp_path, onnx=circuit.paths.onnx)


def test_in_process_backend_proves_a_batch_like_the_pool(built: Path, tmp_path: Path) -> None:
    """A backend is swappable behind `prove_batch`: the same checks, items and proofs."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    heldout = get_model("fee").heldout_set()
    for index in range(3):
        prover.write_input(inputs / f"s{index}.json", [heldout[index : index + 1]])
    (inputs / "bad.json").write_text('{"input_data": [[1, 2]]}')
    circuit = open_circuit("fee", built)
    reporter = SilentReporter()
    files = sorted(inputs.glob("*.json"))
    result = prove_batch(circuit, files, tmp_path / "proofs", 1, reporter, backend=InProcessBackend())
    assert len(result.proved) == 3 and [item.input.name for item in result.failed] == ["bad.json"]
    assert sorted(label for label, _ in reporter.items) == sorted(path.name for path in files)
    assert all(circuit.verify(item.proof).valid for item in result.proved if item.proof is not None)
