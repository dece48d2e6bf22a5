"""`prover prove-batch`: prove a folder of inputs with a pool of workers, with a progress bar.

Exit 0 if every input was proved, 1 if any input failed (each failure is one line on
stderr and an entry in --json's "failed"), 2 for what stops the whole batch (no such
folder, no inputs, circuit not built): the same split as `prover verify`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from prover.batch import BatchItem, BatchResult, list_inputs, prove_batch
from prover.batch_memory import MIB, WorkerPlan, usable_cores
from prover.cli import JsonOpt, RichReporter, WorkdirOpt, app, emit_json, err, handles_errors, show_table
from prover.errors import ProverError
from prover.pipeline import open_circuit
from prover.srs import DEV_SRS_WARNING

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str) -> int:
    """`123456`, `512M`, `1.5G` (binary units) -> bytes; anything else is a ProverError."""
    match = SIZE.match(text)
    if match is None:
        raise ProverError(f"--memory-limit {text!r} is not a size", hint="give bytes, or a K/M/G suffix: 512M, 2G")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


class ProgressObserver:
    """A rich progress bar on stderr over the proofs; failures print above it as they come."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("proving"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False,
        )
        self.task = self.progress.add_task("proving", total=None, failed=0)
        self.failures = 0

    def started(self, plan: WorkerPlan, proofs: int) -> None:
        """The bar counts every input; those refused by the checks are already done."""
        self.progress.update(self.task, total=proofs + self.failures, completed=self.failures)
        err.print(f"proving {proofs} inputs with {plan.workers} worker(s) x {plan.threads} thread(s), "
                  f"about {plan.predicted_worker_bytes / MIB:.0f} MiB each")
        self.progress.start()

    def finished(self, item: BatchItem) -> None:
        if item.error is not None:
            self.failures += 1
            self.progress.console.print(Text.assemble(("✗ ", "red"), item.error), soft_wrap=True)
        self.progress.update(self.task, advance=1, failed=self.failures)

    def warn(self, message: str) -> None:
        RichReporter().warn(message)

    def close(self) -> None:
        self.progress.stop()


@app.command("prove-batch")
@handles_errors
def prove_batch_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    inputs: Annotated[Path, typer.Option("--inputs", help="Folder of ezkl input JSON files, one sample each.")],
    workers: Annotated[Optional[int], typer.Option(
        help="Worker processes (default: one per core, measured fastest; lowered if memory is short).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="Where proofs go, as <input stem>.proof.json (default circuits/NAME/proofs/).")] = None,
    memory_limit: Annotated[Optional[str], typer.Option(
        "--memory-limit", help="Memory the workers may use, bytes or 512M/2G (default: what is available).")] = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Prove every *.json input in a folder with a process pool; keys are loaded once per worker."""
    limit = parse_bytes(memory_limit) if memory_limit is not None else None
    # One single-threaded worker per core: on this 2-core machine, fee x 120 inputs made
    # 324-353 proofs/min with 2 workers x 1 thread, 231-249 with 1 worker x 2 threads.
    requested = workers if workers is not None else usable_cores()
    paths, manifest = open_circuit(name, workdir)
    files = list_inputs(inputs)
    observer = ProgressObserver()
    if manifest.srs is not None and manifest.srs.kind == "dev":
        observer.warn(DEV_SRS_WARNING)
    try:
        result = prove_batch(paths, manifest, files, out or paths.root / "proofs", requested, observer, limit)
    finally:
        observer.close()
    if json_out:
        emit_json(_document(result))
    else:
        _show_summary(name, result)
    if result.failed:
        raise typer.Exit(1)


def _document(result: BatchResult) -> dict[str, object]:
    plan = result.plan
    return {
        "proofs": len(result.proved),
        "failed": [{"input": str(item.input), "error": item.error} for item in result.failed],
        "workers": plan.workers,
        "requested_workers": plan.requested,
        "threads_per_worker": plan.threads,
        "seconds": round(result.seconds, 3),
        "proofs_per_minute": round(result.proofs_per_minute, 1),
        "mean_prove_seconds": round(result.mean_prove_seconds, 4),
        "predicted_worker_bytes": plan.predicted_worker_bytes,
        "measured_worker_bytes": result.measured_worker_bytes,
        "available_bytes": plan.available_bytes,
        "out": str(result.out),
    }


def _show_summary(name: str, result: BatchResult) -> None:
    plan = result.plan
    show_table(f"prove-batch {name}", [
        ("proofs", f"{len(result.proved)} in {result.out}"),
        ("failures", str(len(result.failed))),
        ("wall time", f"{result.seconds:.2f} s"),
        ("throughput", f"{result.proofs_per_minute:.1f} proofs/min (wall clock, whole batch)"),
        ("mean prove time", f"{result.mean_prove_seconds:.3f} s per proof"),
        ("workers", f"{plan.workers} x {plan.threads} thread(s) (requested {plan.requested})"),
        ("memory per worker", f"predicted {plan.predicted_worker_bytes / MIB:.0f} MiB, measured "
                              f"{result.measured_worker_bytes / MIB:.0f} MiB; {plan.available_bytes / MIB:.0f} "
                              "MiB available"),
    ])
