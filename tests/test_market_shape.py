"""A batch circuit in the market's terms: the shape, the fixed point requesters send, and
one proof carrying several requests in their slots with zero padding after them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_clean_error, run_cli
from onnx_models import write_dynamic_batch, write_two_heads

from prover.errors import ProverError
from prover.market.shape import MAX_ABS, prove_requests, quantize, request_inputs, shape_of, slot_inputs, slot_outputs
from prover.proving.circuit import open_circuit
from prover.proving.field import to_signed


def test_quantize_rounds_half_away_from_zero_like_ezkl() -> None:
    # Python's round() would give 0 and 2 for 0.5 and 2.5 units: ezkl (Rust) gives 1 and 3
    assert quantize([0.5 / 4, 2.5 / 4, -0.5 / 4, -2.5 / 4, 0.3 / 4], 2) == [1, 3, -1, -3, 0]


def test_quantize_refuses_what_no_felt_decodes() -> None:
    with pytest.raises(ProverError, match="too large"):
        quantize([float(MAX_ABS)], 0)


def test_a_graph_fixed_to_one_sample_is_not_a_batch(tmp_path: Path) -> None:
    folder = write_two_heads(tmp_path / "model")  # exported without a dynamic axis: batch 1 in the graph
    result = run_cli(
        "build", "--onnx", folder / "network.onnx", "--name", "fixed", "--data", folder / "cal.json",
        "--batch", "4", "--workdir", tmp_path,
    )  # fmt: skip
    assert_clean_error(result, "--batch 4 needs a graph", "dynamic batch axis")
    assert not (tmp_path / "circuits" / "fixed" / "manifest.json").exists()


@pytest.mark.slow
def test_a_dynamic_batch_axis_is_fixed_to_the_batch(tmp_path: Path) -> None:
    """A user's MLP exported with a symbolic batch axis becomes a batch-4 circuit: one proof
    of four inferences, the calibration rows grouped four by four."""
    folder = write_dynamic_batch(tmp_path / "model")
    result = run_cli(
        "build", "--onnx", folder / "network.onnx", "--name", "dyn4", "--data", folder / "cal.json",
        "--batch", "4", "--workdir", tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    circuit = open_circuit("dyn4", tmp_path)
    assert circuit.manifest.batch == 4
    assert circuit.info.input_shapes == [[4, 5]] and circuit.info.output_shapes == [[4, 3]]
    shape = shape_of(circuit)
    assert (shape.batch_size, shape.inputs_per_inference, shape.outputs_per_inference) == (4, 5, 3)
    rows = [request_inputs(shape, [0.1 * k * sign for k in range(5)]) for sign in (1, -1)]
    proof = prove_requests(circuit, shape, rows, tmp_path / "proof.json").proof
    assert slot_inputs(shape, proof.instances, 1) == rows[1]
    assert circuit.verify(proof).valid


@pytest.mark.slow
def test_one_proof_carries_requests_in_slots_and_pads_with_zeros(batch_built: Path, tmp_path: Path) -> None:
    circuit = open_circuit("fee_b4", batch_built)
    shape = shape_of(circuit)
    assert (shape.batch_size, shape.leading_instances, shape.inputs_per_inference, shape.outputs_per_inference) == (
        4, 0, 8, 1,
    )  # fmt: skip
    first = request_inputs(shape, [0.25 * k - 1 for k in range(8)])
    second = request_inputs(shape, [-0.5 * k for k in range(8)])
    proof = prove_requests(circuit, shape, [first, second], tmp_path / "proof.json").proof
    assert len(proof.instances) == shape.instance_count
    assert slot_inputs(shape, proof.instances, 0) == first
    assert slot_inputs(shape, proof.instances, 1) == second
    assert slot_inputs(shape, proof.instances, 2) == slot_inputs(shape, proof.instances, 3) == [0] * 8
    assert slot_outputs(shape, proof.instances, 0) != slot_outputs(shape, proof.instances, 1)
    assert all(abs(to_signed(felt)) < MAX_ABS for felt in proof.instances)
    assert circuit.verify(proof).valid
