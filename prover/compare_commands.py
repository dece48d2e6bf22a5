"""`prover compare`: a progress bar over the rows, then one table of what each variant costs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.console import Console
from rich.measure import Measurement

from models import model_names
from prover.cli import JsonOpt, WorkdirOpt, app, emit_json, err, handles_errors
from prover.compare import (
    DEFAULT_VARIANTS, Comparison, CompareRow, PlannedRow, check_output_path, plan_rows, results_table, write_rows,
)
from prover.progress import StageStatus

class RowProgress:
    """A Reporter for the builds and measurements under one bar: the bar's text follows the
    current stage; stages that did work print one line above it, cached ones stay quiet,
    and each distinct warning prints once."""

    def __init__(self, total: int) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err, transient=False)
        self.task = self.progress.add_task("compare", total=total)
        self.row = ""
        self._warned: set[str] = set()

    def start_row(self, plan: PlannedRow) -> None:
        self.row = f"{plan.model} {plan.variant.label}"
        self.progress.update(self.task, description=self.row)

    def finish_row(self, row: CompareRow) -> None:
        cached = " [dim](cached)[/]" if row.cached else ""
        self.progress.console.print(f"[green]✓[/] {self.row}: prove {row.prove_s:.3f}s, "
                                    f"verifyProof {row.verify_gas:,} gas{cached}")
        self.progress.advance(self.task)

    def stage_started(self, stage: str, detail: str) -> None:
        self.progress.update(self.task, description=f"{self.row}: {stage} {detail}".strip())

    def stage_finished(self, stage: str, status: StageStatus, seconds: float, detail: str) -> None:
        if status != "cached":
            mark = {"done": "[green]·[/]", "pruned": "[dim]·[/]"}.get(status, "[red]✗[/]")
            self.progress.console.print(f"  {mark} {stage:<9} {seconds:6.2f}s  [dim]{detail}[/]")
        self.progress.update(self.task, description=self.row)

    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.progress.console.print(f"[bold yellow]warning:[/] {message}", soft_wrap=True)


@app.command("compare")
@handles_errors
def compare_command(
    names: Annotated[Optional[list[str]], typer.Argument(
        help="Reference models, or circuits built from your ONNX (default: every reference model).")] = None,
    variants: Annotated[Optional[str], typer.Option(
        help=f"Comma-separated; tokens joined by '+'. Default: {','.join(DEFAULT_VARIANTS)}.")] = None,
    runs: Annotated[int, typer.Option(min=1, max=50, help="Proofs per row (median reported).")] = 3,
    out: Annotated[Optional[Path], typer.Option(help="Also write the rows to FILE.csv or FILE.json.")] = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Build, prove and verify each model x variant (off-chain and on an embedded anvil); one row each.

    Rows are cached by the hashes of their artifacts, so a rerun with nothing changed is fast.
    """
    if out is not None:
        check_output_path(out)
    specs = [spec for spec in (variants.split(",") if variants else DEFAULT_VARIANTS) if spec.strip()]
    plans = plan_rows(list(names or model_names()), specs, workdir)
    progress = RowProgress(len(plans))
    rows = []
    with progress.progress, Comparison(workdir, runs, progress) as comparison:
        for plan in plans:
            progress.start_row(plan)
            rows.append(comparison.measure(plan))
            progress.finish_row(rows[-1])
    if out is not None:
        write_rows(rows, out)
    if json_out:
        emit_json([row.model_dump(mode="json") for row in rows])
        return
    table = results_table(rows, runs)
    # Full width even where the console is narrower (a pipe, CI, a note): squeezed
    # columns would show "4…" instead of numbers; a terminal wraps long lines instead.
    needed = Measurement.get(err, err.options.update(max_width=1000), table).maximum
    Console(stderr=True, highlight=False, width=max(err.width, needed)).print(table)
    if out is not None:
        err.print(f"wrote {len(rows)} rows to {out}")
