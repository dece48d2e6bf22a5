"""Where many proofs are made: a backend takes checked samples and yields one outcome each.

Callers (`prove-batch`, later a keeper or a service) hand a backend a circuit and a list of
tasks and read outcomes as they finish, in any order; they never see processes, threads
or nodes. A new backend (a cluster) implements `prove_many` and nothing else changes.

Contract of `prove_many`: every task yields exactly one outcome; an ezkl failure of one
task is that outcome's `error`, never an exception; an exception means the backend
itself broke (a worker killed), and the proofs already yielded stay valid.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prover.datasets import Dataset
from prover.errors import ProverError
from prover.proving.circuit import Circuit
from prover.proving.memory import peak_rss_bytes
from prover.proving.prove import ProvingFiles, prove_sample


@dataclass(frozen=True)
class ProofTask:
    """One checked sample to prove, written to `proof_out` (atomically)."""

    label: str
    sample: Dataset
    proof_out: Path


@dataclass(frozen=True)
class ProofOutcome:
    """A task's result: its proof, or the one-line reason it has none."""

    label: str
    proof: Path | None = None
    error: str | None = None
    prove_seconds: float = 0.0
    outputs: list[list[float]] = field(default_factory=list)
    worker_peak_rss: int = 0


class ProvingBackend(Protocol):
    """Something that proves many samples of one circuit."""

    def prove_many(self, circuit: Circuit, tasks: Sequence[ProofTask]) -> Iterator[ProofOutcome]: ...


def one_line(message: str, label: str) -> str:
    """An error message that names the task it belongs to, once."""
    return message if label in message else f"{label}: {message}"


def prove_task(files: ProvingFiles, task: ProofTask) -> ProofOutcome:
    """The one prove body applied to a task, its failure turned into the outcome's error."""
    try:
        result = prove_sample(files, task.sample, task.proof_out, keep_witness=False)
    except ProverError as exc:
        return ProofOutcome(task.label, error=one_line(exc.message, task.label), worker_peak_rss=peak_rss_bytes())
    return ProofOutcome(
        task.label,
        proof=result.proof_path,
        prove_seconds=result.prove_seconds,
        outputs=result.outputs,
        worker_peak_rss=peak_rss_bytes(),
    )


class InProcessBackend:
    """Proves the tasks one after another in this process, from the circuit's own files:
    no start-up cost, so the right choice for a handful of proofs or a notebook."""

    def prove_many(self, circuit: Circuit, tasks: Sequence[ProofTask]) -> Iterator[ProofOutcome]:
        files = circuit.proving_files()
        for task in tasks:
            yield prove_task(files, task)
