"""Measurement commands: `prover compare` (models x variants) and `prover bench` (baseline vs tuned)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prover.cli.base import JsonOpt, WorkdirOpt, app, emit_json, handles_errors
from prover.cli.render import RichReporter, bench_table, print_wide, results_table, stdout
from prover.errors import ProverError
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
    models: Annotated[
        str, typer.Option(help="market: the reference models whose gas per inference to measure.")
    ] = "fee,digits",
    batches: Annotated[str, typer.Option(help="market: the batch sizes to measure.")] = "1,4,8,16",
    requests: Annotated[
        int, typer.Option(min=1, help="market: requests the keeper serves for the throughput figure.")
    ] = 64,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Baseline (ezkl's default calibration) vs tuned, measured side by side in one run; or,
    for NAME `market`, gas per inference by batch size, latency and keeper throughput."""
    if name == "market":
        _bench_market(models, batches, runs, requests, workdir, json_out)
        return
    from prover.measure.bench import run_bench

    result = run_bench(name, workdir, runs, RichReporter())
    if json_out:
        emit_json(result)
        return
    stdout.print(bench_table(result))
    for key, entry in result["targets"].items():
        mark = "[green]met[/]" if entry["met"] else "[red]not met[/]"
        stdout.print(f"target {key}: {entry['measured']} vs {entry['target']} {mark}")


def _bench_market(models: str, batches: str, runs: int, requests: int, workdir: Path, json_out: bool) -> None:
    from models import REFERENCE_MODELS
    from prover.config import MAX_BATCH
    from prover.keeper.bench import run_market_bench

    chosen = [model.strip() for model in models.split(",") if model.strip()]
    unknown = [model for model in chosen if model not in REFERENCE_MODELS]
    try:
        sizes = sorted({int(size) for size in batches.split(",")})
    except ValueError:
        raise ProverError(f"--batches {batches!r} is not a list of numbers", hint="e.g. --batches 1,4,8,16") from None
    if unknown or not chosen:
        raise ProverError(f"--models: {', '.join(unknown) or 'none given'}", hint="see `prover models`")
    if not sizes or sizes[0] < 1 or sizes[-1] > MAX_BATCH:
        raise ProverError(f"--batches must be between 1 and {MAX_BATCH}", hint="e.g. --batches 1,4,8,16")
    if 1 not in sizes:
        sizes.insert(0, 1)  # the latency figure is for batch 1
    result = run_market_bench(workdir, chosen, sizes, RichReporter(), latency_runs=runs, throughput_requests=requests)
    if json_out:
        emit_json(result)
        return
    for model, figures in result["gas_per_inference"].items():
        shown = ", ".join(f"batch {batch}: {gas:,}" for batch, gas in figures.items())
        stdout.print(f"{model} fulfil gas per inference: {shown}")
    stdout.print(f"latency request -> fulfilled (1 s blocks, batch 1): {result['latency_s']:.2f} s (median)")
    stdout.print(f"keeper throughput: {result['inferences_per_min']:.0f} inferences/min")
