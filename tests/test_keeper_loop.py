"""The keeper's loop rides out node failures in a long run (backing off, then giving up by
name) and never in `--once`, where a script wants the error at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prover.errors import ChainError
from prover.keeper import serve
from prover.keeper.serve import Keeper
from prover.keeper.settings import MAX_CONSECUTIVE_FAILURES, ServeConfig
from prover.progress import SilentReporter


def _keeper(config: ServeConfig, outcomes: list[object]) -> Keeper:
    """A keeper whose steps play `outcomes` (an exception is raised, a bool returned)."""
    keeper = Keeper.__new__(Keeper)
    keeper.config = config
    keeper.reporter = SilentReporter()
    keeper.sender = SimpleNamespace(resume=lambda wait: [])  # type: ignore[assignment]
    keeper.unfinished = lambda: []  # type: ignore[method-assign]

    def step() -> bool:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return bool(outcome)

    keeper.step = step  # type: ignore[method-assign]
    return keeper


def test_a_long_run_rides_out_node_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    naps: list[float] = []
    monkeypatch.setattr(serve.time, "sleep", naps.append)
    outcomes: list[object] = [ChainError("node down"), ChainError("node down"), True, ChainError("again"), True]
    keeper = _keeper(ServeConfig(), outcomes)
    keeper.run(stopping=lambda: not outcomes)
    assert naps == [2.0, 4.0, 2.0]  # backing off, and counting again after a good step
    assert len(keeper.reporter.warnings) == 3  # type: ignore[attr-defined]


def test_a_long_run_gives_up_after_too_many_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve.time, "sleep", lambda _s: None)
    keeper = _keeper(ServeConfig(), [ChainError("node down")] * (MAX_CONSECUTIVE_FAILURES + 1))
    with pytest.raises(ChainError, match="node down"):
        keeper.run()


def test_once_reports_the_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve.time, "sleep", lambda _s: pytest.fail("--once must not wait out a failure"))
    keeper = _keeper(ServeConfig(once=True), [ChainError("node down")])
    with pytest.raises(ChainError, match="node down"):
        keeper.run()
