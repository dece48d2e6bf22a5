"""Accuracy bounds for a model nobody described: relative per output, floored, decisions only on request.

Pure numpy: no circuit is built here. These are the rules the tuner and the fidelity
report judge every candidate by (issue 12, item 3).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prover.errors import SettingsError
from prover.pipeline.bounds import ZERO_FLOOR, AccuracyBounds, error_bounds, parse_decision, tensor_errors


def _bounds(magnitudes: list[float], sizes: list[int], decision: str | None = None) -> AccuracyBounds:
    shapes = [[1, size] for size in sizes]
    return AccuracyBounds(
        output_names=[f"out{index}" for index in range(len(sizes))],
        output_sizes=sizes,
        error_bounds=error_bounds(magnitudes, 0.01, None),
        decision=parse_decision(decision, sizes, shapes) if decision else None,
        min_agreement=1.0,
        magnitudes=magnitudes,
        max_rel_error=0.01,
    )


def test_each_output_is_held_to_one_percent_of_its_own_magnitude() -> None:
    """A small output is not hidden behind a large one: 0.5 off on 100 passes, 0.05 off on 1 does not."""
    bounds = _bounds([100.0, 1.0], [1, 1])
    reference = np.array([[100.0, 1.0]])
    assert bounds.judge(np.array([[100.5, 1.0]]), reference).failure is None
    failure = bounds.judge(np.array([[100.0, 1.05]]), reference).failure
    assert failure is not None and failure.startswith("out1: max error 0.05 > 0.01")


def test_each_sample_is_held_to_its_own_magnitude() -> None:
    """A tensor that reaches 100 in one sample and 20 in another: 0.5 off passes on the first,
    not on the second (1% of 20), whatever the tensor's largest value."""
    bounds = _bounds([100.0], [2])
    reference = np.array([[100.0, 0.0], [20.0, 0.0]])
    assert bounds.judge(reference + [[0.5, 0.0], [0.15, 0.0]], reference).failure is None
    failure = bounds.judge(reference + [[0.0, 0.0], [0.5, 0.0]], reference).failure
    assert failure == "out0: max error 0.5 > 0.2 (sample 1)"


def test_a_sample_near_zero_is_held_to_a_tenth_of_the_largest() -> None:
    bounds = _bounds([100.0], [1])
    reference = np.array([[100.0], [0.001]])
    judgement = bounds.judge(reference + [[0.0], [0.09]], reference)
    assert judgement.failure is None and judgement.usage == [pytest.approx(0.9)]
    assert bounds.judge(reference + [[0.0], [0.11]], reference).failure is not None


def test_an_output_that_rounds_to_zero_cannot_pass() -> None:
    """With one calibration sample the old bound fell back to an absolute 0.01; a 0 output then passed."""
    bounds = _bounds([0.002], [3])
    reference = np.array([[0.002, -0.0015, 0.001]])
    assert bounds.judge(np.zeros_like(reference), reference).failure is not None


def test_an_always_zero_output_is_held_to_the_floor_not_to_zero() -> None:
    bounds = _bounds([50.0, 0.0], [1, 1])
    assert bounds.error_bounds == [pytest.approx(0.5), pytest.approx(0.01 * ZERO_FLOOR * 50.0)]


def test_absolute_max_error_replaces_the_relative_bound() -> None:
    assert error_bounds([100.0, 1.0], 0.01, 0.2) == [0.2, 0.2]
    assert error_bounds([100.0, 1.0], None, None) is None


@given(st.lists(st.floats(0.0, 1e6), min_size=1, max_size=5))
def test_bounds_are_positive_and_relative(magnitudes: list[float]) -> None:
    bounds = error_bounds(magnitudes, 0.01, None)
    assert bounds is not None and all(bound > 0 for bound in bounds)
    for magnitude, bound in zip(magnitudes, bounds, strict=True):
        assert bound >= 0.01 * magnitude - 1e-12


def test_argmax_agreement_leaves_near_ties_out() -> None:
    """Sample 0 is a clear win the circuit keeps; sample 1 a near-tie (margin 0.001 < 2 x bound) it flips."""
    bounds = _bounds([1.0], [3], "argmax")
    reference = np.array([[0.9, 0.1, 0.0], [0.5, 0.501, 0.0]])
    quantized = np.array([[0.9, 0.1, 0.0], [0.502, 0.5, 0.0]])
    judgement = bounds.judge(quantized, reference)
    assert judgement.agreement == 1.0 and judgement.failure is None
    flipped = np.array([[0.1, 0.9, 0.0], [0.5, 0.501, 0.0]])
    assert bounds.judge(flipped, reference).agreement == 0.0  # the one clear sample flipped


def test_argmax_is_per_output_tensor_not_over_all_outputs_flattened() -> None:
    """Two heads: each tensor's argmax is its own decision (the old default took one argmax of both)."""
    decision = parse_decision("argmax", [2, 3], [[1, 2], [1, 3]])
    outputs = np.array([[5.0, 1.0, 0.1, 0.3, 0.2]])
    assert decision.decide(outputs).tolist() == [[0, 1]]


def test_threshold_decision() -> None:
    decision = parse_decision("threshold:0.5", [2], [[1, 2]])
    assert decision.decide(np.array([[0.4, 0.6]])).tolist() == [[False, True]]
    assert decision.name == "threshold:0.5"


@pytest.mark.parametrize("spec", ["top3", "threshold:", "threshold:abc", "threshold:inf", "ARGMAX"])
def test_unknown_decision_is_a_settings_error(spec: str) -> None:
    with pytest.raises(SettingsError, match="unknown decision"):
        parse_decision(spec, [2], [[1, 2]])


def test_tensor_errors_per_output() -> None:
    errors = tensor_errors(np.array([[1.0, 2.0, 3.0]]), np.array([[1.5, 2.0, 2.0]]), [1, 2])
    assert errors.tolist() == [0.5, 1.0]
