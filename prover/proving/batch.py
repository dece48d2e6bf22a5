"""Prove a folder of inputs: check every file, size the pool to memory, prove the good ones.

Every input is checked first, with the same checks as `prover prove`; a bad file becomes
one failed item (reported at once) and the rest are proved. The proving itself goes to a
backend (`prover.proving.backends`): by default a process pool sized so that its workers'
predicted peaks fit in the memory there is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from prover.artifacts import writing
from prover.errors import InputError, ProverError, WriteError
from prover.progress import Reporter
from prover.proving.backends import ProofTask, ProvingBackend, one_line
from prover.proving.circuit import Circuit
from prover.proving.memory import MIB, WorkerPlan, plan_workers
from prover.proving.pool import ProcessPoolBackend

PROOF_SUFFIX = ".proof.json"


@dataclass(frozen=True)
class BatchItem:
    """One input's outcome: a proof, or the one-line reason it has none."""

    input: Path
    proof: Path | None = None
    error: str | None = None
    prove_seconds: float = 0.0
    outputs: list[list[float]] = field(default_factory=list)
    worker_peak_rss: int = 0


@dataclass(frozen=True)
class BatchResult:
    items: list[BatchItem]
    plan: WorkerPlan
    out: Path
    seconds: float

    @property
    def proved(self) -> list[BatchItem]:
        return [item for item in self.items if item.error is None]

    @property
    def failed(self) -> list[BatchItem]:
        return [item for item in self.items if item.error is not None]

    @property
    def proofs_per_minute(self) -> float:
        """Wall clock over the whole batch: checks, worker start-up and staging included."""
        return 60.0 * len(self.proved) / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_prove_seconds(self) -> float:
        proved = self.proved
        return sum(item.prove_seconds for item in proved) / len(proved) if proved else 0.0

    @property
    def measured_worker_bytes(self) -> int:
        """Peak worker RSS plus its staged copy: the same accounting as the prediction."""
        peak = max((item.worker_peak_rss for item in self.proved), default=0)
        return peak + self.plan.staged_bytes if peak else 0


def list_inputs(folder: Path) -> list[Path]:
    """Every `*.json` in `folder` except proofs (so --out may be the input folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProverError(f"input folder {folder} does not exist", hint="pass --inputs DIR holding *.json inputs")
    files = sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.endswith(PROOF_SUFFIX))
    if not files:
        raise ProverError(
            f"no *.json inputs in {folder}", hint="write some with `prover example NAME --out DIR/x.json`"
        )
    return files


def proof_path_for(input_file: Path, out: Path) -> Path:
    return out / (input_file.stem + PROOF_SUFFIX)


def prove_batch(
    circuit: Circuit,
    inputs: list[Path],
    out: Path,
    workers: int,
    reporter: Reporter | None = None,
    memory_limit: int | None = None,
    backend: ProvingBackend | None = None,
) -> BatchResult:
    """Check every input, size the pool to the memory there is, prove the good inputs.

    `backend` replaces the process pool (a Ray cluster); the local plan is still made, and
    reported in the result, for its memory prediction.
    """
    start = time.perf_counter()
    reporter = reporter or Reporter()
    files = circuit.proving_files()  # a missing key or moved SRS stops the batch before any check
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise WriteError(f"cannot write proofs into {out}: it is a file", hint="--out names a folder for the proofs")
    by_label = _labelled(inputs)
    refused: list[BatchItem] = []
    tasks: list[ProofTask] = []
    for label, path in by_label.items():
        try:
            tasks.append(ProofTask(label, circuit.load_input(path, label), proof_path_for(path, out)))
        except InputError as exc:
            refused.append(BatchItem(input=path, error=one_line(exc.message, label)))
    plan = plan_workers(circuit.paths, files.srs, workers, max(1, len(tasks)), memory_limit)
    if plan.lowered_reason and backend is None:  # this machine's memory does not size a cluster
        reporter.warn(plan.lowered_reason)
    if backend is None:
        reporter.note(
            f"proving {len(tasks)} inputs with {plan.workers} worker(s) x {plan.threads} thread(s), "
            f"about {plan.predicted_worker_bytes / MIB:.0f} MiB each"
        )
    else:  # the backend says how it spreads them
        reporter.note(f"proving {len(tasks)} inputs")
    reporter.items_started(len(inputs), "proofs")
    for item in refused:
        reporter.item_finished(item.input.name, item.error)
    items = list(refused)
    try:
        if tasks:
            with writing(out):
                out.mkdir(parents=True, exist_ok=True)
            for outcome in (backend or ProcessPoolBackend(plan)).prove_many(circuit, tasks):
                items.append(
                    BatchItem(
                        input=by_label[outcome.label],
                        proof=outcome.proof,
                        error=outcome.error,
                        prove_seconds=outcome.prove_seconds,
                        outputs=outcome.outputs,
                        worker_peak_rss=outcome.worker_peak_rss,
                    )
                )
                reporter.item_finished(outcome.label, outcome.error)
    finally:
        reporter.items_finished()
    order = {path: index for index, path in enumerate(inputs)}
    items.sort(key=lambda item: order[item.input])
    return BatchResult(items=items, plan=plan, out=out, seconds=time.perf_counter() - start)


def _labelled(inputs: list[Path]) -> dict[str, Path]:
    """Each input under its file name, or its whole path where two names are the same."""
    names = [path.name for path in inputs]
    return {(path.name if names.count(path.name) == 1 else str(path)): path for path in inputs}
