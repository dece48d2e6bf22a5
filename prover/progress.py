"""How the library reports progress without printing: one reporter object the caller owns.

Everything long-running (a build's stages, the tuner's phases, a batch of proofs, the
rows of a comparison) reports through the same `Reporter`, so one renderer serves every
command: the CLI draws it with rich (spinners, a progress bar), a notebook passes
`PrintReporter`, tests pass `SilentReporter` and read what it recorded.

Two kinds of progress:
- stages: named steps that start, then finish as done / cached / failed / pruned, with
  elapsed seconds (`timed_stage` reports both ends, failures included);
- items: a known number of like things (proofs of a batch, rows of a comparison), each
  finishing with an error or a one-line summary.

Every method is a no-op here, so a reporter overrides only what it shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

StageStatus = Literal["done", "cached", "failed", "pruned"]


class Reporter:
    """Receives progress from the library; the base class ignores all of it."""

    def stage_started(self, stage: str, detail: str) -> None:
        """A stage began; `detail` says on what (a layout, a circuit)."""

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        """The stage most recently started has ended."""

    def items_started(self, total: int, what: str) -> None:
        """`total` items of one kind (`what`: "proofs", "rows") are about to be worked through."""

    def item_started(self, label: str) -> None:
        """Work on one item began (sequential runs only; a pool finishes items out of order)."""

    def item_finished(self, label: str, error: str | None, detail: str = "") -> None:
        """One item ended: `error` is its one-line failure, else `detail` summarises it."""

    def items_finished(self) -> None:
        """Every item of the current run has been reported."""

    def note(self, message: str) -> None:
        """A fact worth one line (how a pool was sized, where results went)."""

    def warn(self, message: str) -> None:
        """Something the user should act on (a dev SRS, fewer workers than asked)."""


@dataclass
class SilentReporter(Reporter):
    """Records what happened; prints nothing. Tests read `events`, `items` and `warnings`."""

    events: list[tuple[str, StageStatus]] = field(default_factory=list)
    items: list[tuple[str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        self.events.append((stage, status))

    def item_finished(self, label: str, error: str | None, detail: str = "") -> None:
        self.items.append((label, error))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class StageOutcome:
    """Mutable result slot for `timed_stage`: the body marks it cached or adds detail."""

    def __init__(self) -> None:
        self.status: StageStatus = "done"
        self.detail: str = ""


@contextmanager
def timed_stage(reporter: Reporter, stage: str, detail: str = "") -> Iterator[StageOutcome]:
    """Report the start, then the end (as failed if the block raised) with elapsed time."""
    outcome = StageOutcome()
    reporter.stage_started(stage, detail)
    start = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        reporter.stage_finished(stage, "failed", time.perf_counter() - start, outcome.detail)
        raise
    reporter.stage_finished(stage, outcome.status, time.perf_counter() - start, outcome.detail)


@dataclass
class PrintReporter(Reporter):
    """One plain line per finished stage or item, for notebooks and scripts.

    The caller chooses it, so the library itself still prints nothing.
    """

    write: Callable[[str], None] = print
    #: False: say nothing about stages skipped as cached (a rerun is then silent)
    show_cached: bool = True
    _warned: set[str] = field(default_factory=set, repr=False)

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        if status == "cached" and not self.show_cached:
            return
        shown = f"{seconds:.2f}s" if status == "done" else status
        self.write(f"{stage:<9} {shown:>8}  {detail}".rstrip())

    def item_finished(self, label: str, error: str | None, detail: str = "") -> None:
        self.write(f"✗ {error}" if error is not None else f"✓ {label}: {detail}".rstrip(": "))

    def note(self, message: str) -> None:
        self.write(message)

    def warn(self, message: str) -> None:
        if message not in self._warned:  # the same warning for every circuit of a run says nothing new
            self._warned.add(message)
            self.write(f"warning: {message}")
