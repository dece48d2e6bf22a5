"""Measurement commands: `prover compare` (models x variants) and `prover bench` (baseline vs tuned)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prover.cli.base import JsonOpt, WorkdirOpt, app, emit_json, handles_errors
from prover.cli.render import RichReporter, bench_table, print_wide, results_table, stdout
from prover.measure.variants import DEFAULT_VARIANTS


@app.command("compare")
@handles_errors
def compare_command(
    names: Annotated[
        Optional[list[str]],
        typer.Argument(help="Reference models, or circuits built from your ONNX (default: every reference model)."),
    ] = None,
    variants: Annotated[
        Optional[str],
        typer.Option(help=f"Comma-separated; tokens joined by '+'. Default: {','.join(DEFAULT_VARIANTS)}."),
    ] = None,
    runs: Annotated[int, typer.Option(min=1, max=50, help="Proofs per row (median reported).")] = 3,
    out: Annotated[Optional[Path], typer.Option(help="Also write the rows to FILE.csv or FILE.json.")] = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Build, prove and verify each model x variant (off-chain and on an embedded anvil); one row each.

    Rows are cached by the hashes of their artifacts, so a rerun with nothing changed is fast.
    """
    from models import model_names
    from prover.measure.compare import compare
    from prover.measure.results import check_output_path, write_rows
    from prover.measure.variants import plan_rows

    if out is not None:
        check_output_path(out)
    specs = [spec for spec in (variants.split(",") if variants else DEFAULT_VARIANTS) if spec.strip()]
    models = list(names or model_names())
    plan_rows(models, specs, workdir)  # every name and variant checked before anything is built
    rows = compare(models, specs, workdir, runs=runs, reporter=RichReporter())
    if out is not None:
        write_rows(rows, out)
    if json_out:
        emit_json([row.model_dump(mode="json") for row in rows])
        return
    print_wide(results_table(rows, runs))
    if out is not None:
        stdout.print(f"wrote {len(rows)} rows to {out}")


@app.command("bench")
@handles_errors
def bench_command(
    name: Annotated[str, typer.Argument(help="Reference model, or a circuit built from your ONNX.")],
    runs: Annotated[int, typer.Option(min=1, max=50, help="Proofs per circuit (median reported).")] = 5,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Baseline (ezkl's default calibration) vs tuned, measured side by side in one run."""
    from prover.measure.bench import run_bench

    result = run_bench(name, workdir, runs, RichReporter())
    if json_out:
        emit_json(result)
        return
    stdout.print(bench_table(result))
    for key, entry in result["targets"].items():
        mark = "[green]met[/]" if entry["met"] else "[red]not met[/]"
        stdout.print(f"target {key}: {entry['measured']} vs {entry['target']} {mark}")
