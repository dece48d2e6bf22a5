"""How the library reports progress without printing: a callback object the caller owns.

The CLI renders it with rich (spinner + elapsed time per stage); tests and notebooks
pass `SilentReporter` or their own collector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

StageStatus = Literal["done", "cached", "failed", "pruned"]


class Reporter(Protocol):
    def stage_started(self, stage: str, detail: str) -> None: ...

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None: ...

    def warn(self, message: str) -> None: ...


@dataclass
class SilentReporter:
    """Records what happened; prints nothing. Tests read `events` and `warnings`."""

    events: list[tuple[str, StageStatus]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def stage_started(self, stage: str, detail: str) -> None:
        pass

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        self.events.append((stage, status))

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class StageOutcome:
    """Mutable result slot for `timed_stage`: the body marks it cached or adds detail."""

    def __init__(self) -> None:
        self.status: StageStatus = "done"
        self.detail: str = ""


@contextmanager
def timed_stage(reporter: Reporter, stage: str, detail: str = "") -> Iterator[StageOutcome]:
    outcome = StageOutcome()
    reporter.stage_started(stage, detail)
    start = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        reporter.stage_finished(stage, "failed", time.perf_counter() - start, outcome.detail)
        raise
    reporter.stage_finished(stage, outcome.status, time.perf_counter() - start, outcome.detail)


Callback = Callable[[str], None]
