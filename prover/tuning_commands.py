"""`prover tune` and `prover bench`: choose settings, then show what they bought."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from models import model_names
from prover.artifacts import TrialRecord
from prover.bench import run_bench
from prover.cli import (
    JsonOpt, MaxErrorOpt, MinAgreementOpt, ObjectiveOpt, RichReporter, WorkdirOpt, app, emit_json, err,
    handles_errors, tuning_overrides,
)
from prover.errors import ProverError, UnknownModelError
from prover.pipeline import build_model


@app.command("tune")
@handles_errors
def tune_command(
    name: Annotated[str, typer.Argument(help="Reference model or built circuit.")],
    max_error: MaxErrorOpt = None,
    min_agreement: MinAgreementOpt = None,
    objective: ObjectiveOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Search scales, decomposition, columns, margin and logrows for the cheapest circuit within bounds."""
    overrides = tuning_overrides("tuned", max_error, min_agreement, objective)
    manifest = build_model(name, workdir, overrides=overrides, reporter=RichReporter())
    tuning = manifest.tuning
    if tuning is None:
        raise ProverError("the build did not record a tuning report")
    if json_out:
        emit_json({"name": manifest.name, "tuning": tuning.model_dump(),
                   "fidelity": manifest.fidelity.model_dump() if manifest.fidelity else None})
        return
    phases: dict[str, int] = {}
    for trial in tuning.trials:
        phases[trial.phase] = phases.get(trial.phase, 0) + 1
    err.print(f"tried {', '.join(f'{count} {phase}' for phase, count in phases.items())} candidates "
              f"in {tuning.seconds:.1f} s (objective: {tuning.objective})")
    err.print(_finalists_table([t for t in tuning.trials if t.prove_s is not None]))
    err.print(f"chosen: {tuning.chosen.short()}")


def _finalists_table(trials: list[TrialRecord]) -> Table:
    table = Table(title="finalists (set up and proved)", title_justify="left")
    for column in ("layout", "prove s", "setup s", "pk MB", "proof B", "verifyProof gas", ""):
        table.add_column(column, justify="left" if column == "layout" else "right")
    for trial in trials:
        table.add_row(
            trial.layout.short(), f"{trial.prove_s:.3f}", f"{trial.setup_s or 0:.2f}",
            f"{(trial.pk_bytes or 0) / 1e6:.1f}", f"{trial.proof_bytes or 0:,}",
            f"{trial.verify_gas:,}" if trial.verify_gas else "-", "[green]chosen[/]" if trial.status == "chosen" else "",
        )
    return table


@app.command("bench")
@handles_errors
def bench_command(
    name: Annotated[str, typer.Argument(help="Reference model (see `prover models`).")],
    runs: Annotated[int, typer.Option(min=1, max=50, help="Proofs per circuit (median reported).")] = 5,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Baseline (ezkl's default calibration) vs tuned, measured side by side in one run."""
    if name not in model_names():
        raise UnknownModelError(f"unknown model {name!r}", hint="see `prover models`")
    result = run_bench(name, workdir, runs, RichReporter())
    if json_out:
        emit_json(result)
        return
    err.print(_bench_table(result))
    for key, entry in result["targets"].items():
        mark = "[green]met[/]" if entry["met"] else "[red]not met[/]"
        err.print(f"target {key}: {entry['measured']} vs {entry['target']} {mark}")


def _bench_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"{result['model']}: ezkl default vs tuned ({result['runs']} runs, medians)",
                  title_justify="left")
    for column in ("", "baseline", "tuned", "baseline / tuned"):
        table.add_column(column, justify="right")
    rows = [("logrows", "logrows", "{}"), ("prove s", "prove_s", "{:.3f}"), ("peak RSS MiB", "peak_rss_bytes", None),
            ("setup s", "setup_s", "{:.2f}"), ("pk MB", "pk_bytes", None), ("verifyProof gas", "verify_gas", "{:,}"),
            ("max |err|", "max_abs_error", "{:.4g}"), ("agreement", "agreement", "{:.1%}")]
    for label, key, fmt in rows:
        base, tuned = result["baseline"][key], result["tuned"][key]
        if key == "peak_rss_bytes":
            shown = (f"{base / 2**20:.0f}", f"{tuned / 2**20:.0f}")
        elif key == "pk_bytes":
            shown = (f"{base / 1e6:.1f}", f"{tuned / 1e6:.1f}")
        else:
            shown = (fmt.format(base) if base is not None else "-", fmt.format(tuned) if tuned is not None else "-")
        ratio = result["ratios"].get(key)
        table.add_row(label, *shown, f"{ratio:.2f}x" if ratio else "")
    return table
