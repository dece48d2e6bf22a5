"""The tuner's work budget: seconds estimated from circuit sizes, never read from a clock.

A budget checked against the wall clock would make the circuit depend on how busy the
machine was: the same model could tune to a different circuit on a second run, and CI
would build something other than a laptop. So every step the tuner takes is charged
what a fixed cost model says it takes on the machine DESIGN.md describes (2 cores),
from facts ezkl reports before running it (rows, logrows, columns). The same inputs
always spend the same budget and stop at the same candidate; the wall-clock time is
recorded beside it, for people, and nothing decides on it.

The constants were fitted on ezkl 23 over ezkl's example models (`bench/onnx_suite.py`):
setup time grows with 2^logrows and the column count, witness time with rows.
"""

from __future__ import annotations

from dataclasses import dataclass

# seconds per step, by what drives it
COMPILE_S = (0.02, 1.0e-6)  # fixed, per row
WITNESS_S = (0.003, 1.5e-6)  # fixed, per row, for one sample
MOCK_S = (0.003, 8.0e-6)  # fixed, per 2^logrows (x column factor)
SETUP_S_PER_ROW = 1.7e-4  # per 2^logrows (x column factor)
PROVE_PER_SETUP = 1.5
CALIBRATE_SCALES = 8  # ezkl's 'resources' calibration compiles and witnesses about this many scales


def column_factor(columns: int) -> float:
    """How much more a row costs with more inner columns (measured: 1, 1.4, 3 for 1, 2, 4)."""
    return 0.4 + 0.6 * columns


def compile_cost(rows: int) -> float:
    return COMPILE_S[0] + COMPILE_S[1] * rows


def witness_cost(rows: int, samples: int) -> float:
    return samples * (WITNESS_S[0] + WITNESS_S[1] * rows)


def mock_cost(logrows: int, columns: int) -> float:
    return MOCK_S[0] + MOCK_S[1] * (1 << logrows) * column_factor(columns)


def setup_cost(logrows: int, columns: int) -> float:
    return SETUP_S_PER_ROW * (1 << logrows) * column_factor(columns)


def prove_cost(logrows: int, columns: int) -> float:
    return PROVE_PER_SETUP * setup_cost(logrows, columns)


def calibrate_cost(rows: int, samples: int) -> float:
    return CALIBRATE_SCALES * (compile_cost(rows) + witness_cost(rows, samples))


@dataclass
class WorkBudget:
    """Estimated seconds allowed and spent; `exhausted` once spent reaches the allowance."""

    allowed: float
    spent: float = 0.0

    def charge(self, seconds: float) -> None:
        self.spent += seconds

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.allowed
