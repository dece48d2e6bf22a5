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


@dataclass
class PrintReporter:
    """One plain line per finished stage, for notebooks and scripts that want to see progress.

    The caller chooses it, so the library itself still prints nothing.
    """

    write: Callable[[str], None] = print
    #: False: say nothing about stages skipped as cached (a rerun is then silent)
    show_cached: bool = True
    _warned: set[str] = field(default_factory=set, repr=False)

    def stage_started(self, stage: str, detail: str) -> None:
        pass

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        if status == "cached" and not self.show_cached:
            return
        shown = f"{seconds:.2f}s" if status == "done" else status
        self.write(f"{stage:<9} {shown:>8}  {detail}".rstrip())

    def warn(self, message: str) -> None:
        if message not in self._warned:  # the same warning for every circuit of a run says nothing new
            self._warned.add(message)
            self.write(f"warning: {message}")
