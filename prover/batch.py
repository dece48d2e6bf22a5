"""Prove a folder of inputs with a process pool, keys loaded once per worker.

ezkl's Python API takes the proving key by path and re-reads it on every `prove` call;
it has no way to hold a key in memory between calls. So the honest way to load the keys
once per worker is this: each worker's initializer stages the compiled circuit, the pk
and the SRS once into its own directory in RAM (/dev/shm when it exists and has room,
else a temp dir) and keeps per-worker state (staged paths, manifest; no reporter, the
parent reports); each proof then reads its key from memory, not from the workdir's disk.

Every input is checked in the parent before any worker starts, with the same checks as
`prover.proving.prove`; a bad file becomes one failed item and the rest are proved.
Workers are spawned (never forked: a parent that has used ezkl has a rayon thread pool
that a forked child would inherit without its threads) and each gets
`RAYON_NUM_THREADS = cores // workers`, so K workers do not oversubscribe the cores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

from prover import ezkl_api
from prover.artifacts import CircuitPaths, Manifest, atomic_path, require_file
from prover.batch_memory import WorkerPlan, peak_rss_bytes, plan_workers
from prover.errors import InputError, ProverError
from prover.inputs import Dataset, check_finite, check_range, load_single_input
from prover.proving import check_ezkl_version, rescaled_outputs, witness_for_dataset
from prover.srs import srs_path_for

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


class BatchObserver(Protocol):
    """How the library reports without printing; the CLI renders it with rich."""

    def started(self, plan: WorkerPlan, proofs: int) -> None: ...

    def finished(self, item: BatchItem) -> None: ...

    def warn(self, message: str) -> None: ...


@dataclass
class SilentBatchObserver:
    """Records what happened; prints nothing (tests and notebooks)."""

    items: list[BatchItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def started(self, plan: WorkerPlan, proofs: int) -> None:
        pass

    def finished(self, item: BatchItem) -> None:
        self.items.append(item)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def list_inputs(folder: Path) -> list[Path]:
    """Every `*.json` in `folder` except proofs (so --out may be the input folder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProverError(f"input folder {folder} does not exist", hint="pass --inputs DIR holding *.json inputs")
    files = sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.endswith(PROOF_SUFFIX))
    if not files:
        raise ProverError(f"no *.json inputs in {folder}", hint="write some with `prover example NAME --out DIR/x.json`")
    return files


def checked_sample(path: Path, manifest: Manifest) -> Dataset:
    """The checks `prover.proving.prove` makes, in its order, before ezkl sees a value."""
    assert manifest.info is not None
    sample = load_single_input(path, manifest.info.input_shapes)
    check_finite(sample, path.name)
    check_range(sample, manifest.info.input_range, path.name)
    return sample


def proof_path_for(input_file: Path, out: Path) -> Path:
    return out / (input_file.stem + PROOF_SUFFIX)


def prove_batch(
    paths: CircuitPaths,
    manifest: Manifest,
    inputs: list[Path],
    out: Path,
    workers: int,
    observer: BatchObserver | None = None,
    memory_limit: int | None = None,
) -> BatchResult:
    """Check every input, size the pool to the memory there is, prove the good inputs."""
    start = time.perf_counter()
    observer = observer or SilentBatchObserver()
    check_ezkl_version(manifest)
    assert manifest.info is not None and manifest.srs is not None
    for path in (paths.compiled, paths.pk):
        require_file(path, f"prover build {manifest.name}")
    srs = srs_path_for(manifest.srs)
    out = Path(out).resolve()
    items: list[BatchItem] = []
    tasks: list[tuple[Path, Dataset]] = []
    for path in inputs:
        try:
            tasks.append((path, checked_sample(path, manifest)))
        except InputError as exc:
            items.append(BatchItem(input=path, error=_one_line(exc.message, path)))
            observer.finished(items[-1])
    plan = plan_workers(paths, srs, workers, max(1, len(tasks)), memory_limit)
    if plan.lowered_reason:
        observer.warn(plan.lowered_reason)
    observer.started(plan, len(tasks))
    if tasks:
        out.mkdir(parents=True, exist_ok=True)
        items += _run_pool(paths, manifest, srs, tasks, out, plan, observer)
    order = {path: index for index, path in enumerate(inputs)}
    items.sort(key=lambda item: order[item.input])
    return BatchResult(items=items, plan=plan, out=out, seconds=time.perf_counter() - start)


def _run_pool(
    paths: CircuitPaths, manifest: Manifest, srs: Path, tasks: list[tuple[Path, Dataset]],
    out: Path, plan: WorkerPlan, observer: BatchObserver,
) -> list[BatchItem]:
    items: list[BatchItem] = []
    stage_root = Path(tempfile.mkdtemp(prefix="prover-batch-", dir=_stage_parent(plan)))
    init_args = (stage_root, paths, manifest, srs, plan.threads)
    executor = ProcessPoolExecutor(plan.workers, get_context("spawn"), initializer=_init_worker, initargs=init_args)
    try:
        with _lean_spawn():  # workers are spawned by the first `workers` submits
            futures = [executor.submit(_prove_one, path, sample, proof_path_for(path, out)) for path, sample in tasks]
        for future in as_completed(futures):
            items.append(future.result())
            observer.finished(items[-1])
    except BrokenProcessPool:
        raise ProverError(
            f"a proving worker died after {len(items)} of {len(tasks)} proofs "
            "(killed for lack of memory, or it could not stage the keys)",
            hint="retry with fewer --workers or a lower --memory-limit; check free space in /dev/shm",
        ) from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(stage_root, ignore_errors=True)
    return items


def _stage_parent(plan: WorkerPlan) -> str | None:
    """/dev/shm when it can hold every worker's staged copy with room to spare, else $TMPDIR."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        if shutil.disk_usage(shm).free > 2 * plan.workers * plan.staged_bytes:
            return str(shm)
    return None


@contextlib.contextmanager
def _lean_spawn() -> Iterator[None]:
    """Start workers without re-running the parent's `__main__`.

    A spawned child imports the parent's main module first. For the CLI that is
    `prover.cli`, which pulls in torch and web3: measured here, 2.2 s and 293 MB per
    worker against 0.2 s and 51 MB for this module alone. Workers need only this module,
    so a bare `__main__` stands in while they are spawned.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _one_line(message: str, path: Path) -> str:
    return message if path.name in message else f"{path.name}: {message}"


# --- worker side: runs in the spawned processes ---------------------------------------


@dataclass(frozen=True)
class _WorkerState:
    staged: CircuitPaths  # compiled circuit and pk, copied into RAM
    srs: Path
    log: Path  # the circuit's own ezkl.log, so failures are where the hint says
    manifest: Manifest


_STATE: _WorkerState | None = None


def _init_worker(stage_root: Path, paths: CircuitPaths, manifest: Manifest, srs: Path, threads: int) -> None:
    """Once per worker: cap rayon's threads, then stage circuit, pk and SRS into RAM."""
    global _STATE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool and cleans up
    os.environ["RAYON_NUM_THREADS"] = str(threads)  # read when ezkl first proves, not at import
    directory = Path(tempfile.mkdtemp(prefix="worker-", dir=stage_root))
    staged = CircuitPaths(workdir=directory, name=paths.name)
    staged.root.mkdir(parents=True)
    shutil.copyfile(paths.compiled, staged.compiled)
    shutil.copyfile(paths.pk, staged.pk)
    shutil.copyfile(srs, directory / srs.name)
    _STATE = _WorkerState(staged=staged, srs=directory / srs.name, log=paths.log, manifest=manifest)


def _prove_one(input_file: Path, sample: Dataset, proof_out: Path) -> BatchItem:
    """Witness and proof for one checked sample; an ezkl failure is this item's error."""
    state = _STATE
    assert state is not None and state.manifest.info is not None, "worker not initialised"
    try:
        with tempfile.TemporaryDirectory(dir=state.staged.root) as scratch:
            witness_path = Path(scratch) / "witness.json"
            witness = witness_for_dataset(state.staged, sample, witness_path)
            start = time.perf_counter()
            with atomic_path(proof_out) as tmp:
                ezkl_api.prove(witness_path, state.staged.compiled, state.staged.pk, tmp, state.srs, state.log)
            seconds = time.perf_counter() - start
    except ProverError as exc:
        return BatchItem(input=input_file, error=_one_line(exc.message, input_file), worker_peak_rss=peak_rss_bytes())
    return BatchItem(
        input=input_file, proof=proof_out, prove_seconds=seconds, worker_peak_rss=peak_rss_bytes(),
        outputs=rescaled_outputs(witness, state.manifest.info.output_scales),
    )
