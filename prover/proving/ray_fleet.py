"""One circuit's provers on a Ray cluster: where they go, and how tasks reach them.

Placement: on each alive node, as many provers as its CPUs and memory take, less what the
backend's other fleets hold there (one prover = `threads` CPUs and the pool's own
prediction of one prover's peak plus Ray's worker, both declared to Ray, so Ray never
packs more onto a node), at most `actors_per_node`, and no more than `max_provers` in
all, dealt one node at a time. Dispatch starts as soon as one prover has staged; the
others join as they do.

Dispatch: the driver hands each ready prover one task at a time, in turn. A prover that
dies under a task (its process killed, its node gone, an error the prove body did not
expect) is replaced on its node while the node lives and it has not died more than
`max_restarts` times in a row, else retired; its task goes back to the front of the
queue, where the next ready prover (not its replacement, which is still staging) takes
it, at most `max_attempts` times. A replacement gets no task until it has staged, and
one that cannot be placed within `ready_timeout_s` is retired, so nothing waits forever
on a prover that will never run. Every task yields exactly one outcome, and every proof
is written once, by the driver. Which way a choice goes depends only on what Ray reports.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from prover.artifacts import sha256_file, write_bytes_atomic
from prover.errors import ProverError
from prover.proving.backends import ProofOutcome, ProofTask, one_line
from prover.proving.circuit import Circuit
from prover.proving.memory import MIB, predict_worker_bytes, staged_bytes
from prover.proving.ray_node import Artifact, CircuitProver, RemoteOutcome, Staging

#: what a Ray prover costs beyond a pool worker (Ray's core worker, its imports and threads):
#: `prove-batch --json`'s measured_worker_bytes, same circuit and inputs, Ray minus pool:
#: fee 120 - 65 = 55 MiB, digits 187 - 112 = 75 MiB (Ray 2.60, ezkl 23.0.5); rounded up
RAY_ACTOR_EXTRA_BYTES = 80 * MIB
EXTRA_HINT = "install the extra on every node: pip install 'zkml-prover[cluster]'"


@dataclass(frozen=True)
class RaySettings:
    """How the backend joins a cluster and sizes its fleets.

    `address` None starts a local Ray instance with this machine's cores (stopped on
    `close`); else it joins that cluster (`auto`, or the head's `HOST:6379`).
    """

    address: str | None = None
    threads: int = 1  # one single-threaded prover per core was fastest here (see prove-batch)
    actors_per_node: int | None = None
    max_provers: int | None = None  # a batch of 4 inputs needs no more than 4 provers
    max_attempts: int = 3
    max_restarts: int = 2
    ready_timeout_s: float = 600.0  # a liveness bound on placing and staging one prover


class NoCapacityError(ProverError):
    """No alive node has the CPUs and memory free for one more prover of the circuit."""

    #: what one prover needs: CPUs, bytes
    needs: tuple[int, int] = (0, 0)


@dataclass
class FleetReport:
    """What a fleet did, for summaries and benchmarks."""

    circuit: str
    nodes: int = 0
    actors: int = 0
    threads: int = 1
    predicted_actor_bytes: int = 0
    staging: list[Staging] = field(default_factory=list)
    proofs_per_node: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    restarted: int = 0
    retired: int = 0
    dropped: list[str] = field(default_factory=list)  # why provers were left out at the start

    @property
    def cold_start_seconds(self) -> float:
        """The slowest prover's pull-and-stage: what a batch waits before its first proof there."""
        return max((stage.seconds for stage in self.staging), default=0.0)


@dataclass
class Held:
    """What a backend's fleets hold per node, in Ray's resources."""

    cpus: Counter[str] = field(default_factory=Counter)
    memory: Counter[str] = field(default_factory=Counter)


@dataclass
class _Slot:
    """One prover of the fleet: its current actor, and what the driver knows of it."""

    handle: Any
    node_id: str
    failures: int = 0
    staged: bool = False  # has ever staged: one that never could is not restarted


@dataclass
class _Starting:
    """A replacement prover that has not staged yet."""

    slot: _Slot
    deadline: float


class Fleet:
    """One circuit's provers across the cluster, kept between `prove` calls."""

    def __init__(self, ray: ModuleType, circuit: Circuit, settings: RaySettings, held: Held) -> None:
        self.ray, self.settings = ray, settings
        files = circuit.proving_files()
        predicted = predict_worker_bytes(staged_bytes(circuit.paths, files.srs), settings.threads)
        self.report = FleetReport(
            circuit.name, threads=settings.threads, predicted_actor_bytes=predicted + RAY_ACTOR_EXTRA_BYTES
        )
        placement = self._placement(held)
        if not placement:
            full = NoCapacityError(
                f"no Ray node has {settings.threads} CPU(s) and "
                f"{self.report.predicted_actor_bytes / MIB:.0f} MiB for a prover of {circuit.name}",
                hint="add nodes or CPUs to the cluster, or give Ray more of a node's memory (docs/cluster.md)",
            )
            full.needs = (settings.threads, self.report.predicted_actor_bytes)
            raise full
        try:
            artifacts = [
                Artifact(path.name, sha256_file(path), path.stat().st_size, [ray.put(path.read_bytes())])
                for path in (files.compiled, files.pk, files.srs)
            ]
        except ray.exceptions.RayError as exc:
            raise ProverError(f"could not put {circuit.name}'s keys into Ray's object store: {reason(exc)}") from None
        # the object-store copies live as long as the fleet: a replacement pulls from them
        self._arguments = (artifacts, files.output_scales, settings.threads, circuit.name)
        self.slots: list[_Slot] = []
        self._starting: dict[Any, _Starting] = {}
        self.clean = True
        for node_id, count in placement.items():
            for _ in range(count):
                self.slots.append(self._launch(_Slot(None, node_id)))
        self._count()
        self._first_ready()

    # -- placement -------------------------------------------------------------------------

    def _placement(self, held: Held) -> dict[str, int]:
        """From each alive node's totals, less what this backend's other fleets hold there.
        Not from what Ray has free this instant: that lags behind provers just stopped, and
        a prover that waits for another job's CPU simply joins the batch later."""
        capacity = {}
        for node in self.ray.nodes():
            if not node.get("Alive"):
                continue
            node_id, total = node["NodeID"], node.get("Resources", {})
            cpus = int(total.get("CPU", 0)) - held.cpus[node_id]
            memory = int(total.get("memory", 0)) - held.memory[node_id]
            count = min(cpus // self.settings.threads, memory // self.report.predicted_actor_bytes)
            if self.settings.actors_per_node is not None:
                count = min(count, self.settings.actors_per_node)
            if count > 0:
                capacity[node_id] = count
        limit = self.settings.max_provers if self.settings.max_provers is not None else sum(capacity.values())
        placement: Counter[str] = Counter()
        while sum(placement.values()) < limit and placement != capacity:
            for node_id in sorted(capacity):
                if placement[node_id] < capacity[node_id] and sum(placement.values()) < limit:
                    placement[node_id] += 1
        return dict(placement)

    def _launch(self, slot: _Slot) -> _Slot:
        """A new prover for `slot`, pinned to its node, staging: it gets tasks once staged,
        and is retired if it is not within `ready_timeout_s`. Ray restarts nothing itself:
        the driver knows whether the node is still there, and counts."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options = self.ray.remote(CircuitProver).options(
            num_cpus=self.settings.threads,
            memory=self.report.predicted_actor_bytes,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node_id, soft=False),
        )
        slot.handle = options.remote(*self._arguments)
        deadline = time.monotonic() + self.settings.ready_timeout_s
        self._starting[slot.handle.staged.remote()] = _Starting(slot, deadline)
        return slot

    def _first_ready(self) -> None:
        """Wait until one prover has staged (the rest join as they do); if none can, the
        first reason is the error."""
        while self._starting and not any(slot.staged for slot in self.slots):
            ready, _ = self.ray.wait(list(self._starting), num_returns=1, timeout=self._wait_timeout())
            if ready:
                self._staged(ready[0], deque())
            else:
                self._retire_late()
        if not any(slot.staged for slot in self.slots):
            first = self.report.dropped[0] if self.report.dropped else "no prover was placed"
            raise ProverError(
                f"no Ray prover of {self.report.circuit} could start: {first}",
                hint=EXTRA_HINT if "No module named" in first else "see the reason; docs/cluster.md",
            )

    def _count(self) -> None:
        self.report.actors = len(self.slots)
        self.report.nodes = len({slot.node_id for slot in self.slots})

    # -- dispatch --------------------------------------------------------------------------

    def prove(self, tasks: Sequence[ProofTask]) -> Iterator[ProofOutcome]:
        """One outcome per task, as they finish. A caller that stops early while provers
        are busy with its tasks leaves the fleet unclean: the backend then drops it."""
        queue: deque[int] = deque(range(len(tasks)))
        attempts: Counter[int] = Counter()
        starting = {id(entry.slot) for entry in self._starting.values()}
        idle: deque[_Slot] = deque(slot for slot in self.slots if id(slot) not in starting)
        running: dict[Any, tuple[_Slot, int]] = {}
        try:
            yield from self._dispatch(tasks, queue, attempts, idle, running)
        finally:
            self.clean = not running  # else provers are still busy with this call's tasks

    def _dispatch(
        self,
        tasks: Sequence[ProofTask],
        queue: deque[int],
        attempts: Counter[int],
        idle: deque[_Slot],
        running: dict[Any, tuple[_Slot, int]],
    ) -> Iterator[ProofOutcome]:
        ray = self.ray
        while queue or running:
            while idle and queue:
                slot, index = idle.popleft(), queue.popleft()
                attempts[index] += 1
                running[slot.handle.prove.remote(tasks[index])] = (slot, index)
                self.slots.remove(slot)  # to the back: the next call (a keeper's) starts with another
                self.slots.append(slot)
            if not running and not self._starting:
                last = f" (last: {self.report.dropped[-1]})" if self.report.dropped else ""
                raise ProverError(
                    f"every Ray prover of {self.report.circuit} is gone, "
                    f"{len(queue)} of {len(tasks)} proofs not made{last}",
                    hint="the proofs already written are valid; rerun the batch for the rest",
                )
            ready, _ = ray.wait([*running, *self._starting], num_returns=1, timeout=self._wait_timeout())
            if not ready:
                self._retire_late()
                continue
            (ref,) = ready
            if ref in self._starting:
                self._staged(ref, idle)
                continue
            slot, index = running.pop(ref)
            try:
                remote: RemoteOutcome = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the prover died under the task, or its node did
                self.report.dropped.append(reason(exc))
                self._failed(slot)
                if attempts[index] < self.settings.max_attempts:
                    self.report.retried += 1
                    queue.appendleft(index)
                    continue
                died = f"its prover died {attempts[index]} times ({reason(exc)})"
                yield ProofOutcome(tasks[index].label, error=one_line(died, tasks[index].label))
                continue
            slot.failures = 0
            idle.append(slot)
            self.report.proofs_per_node[remote.node_id] += remote.outcome.error is None
            yield written(tasks[index], remote)

    def _wait_timeout(self) -> float | None:
        """How long the next wait may take: until the first replacement's deadline."""
        if not self._starting:
            return None
        return max(0.0, min(entry.deadline for entry in self._starting.values()) - time.monotonic())

    def _staged(self, ref: Any, idle: deque[_Slot]) -> None:
        slot = self._starting.pop(ref).slot
        try:
            self.report.staging.append(self.ray.get(ref))
        except self.ray.exceptions.RayError as exc:
            if not slot.staged:  # never staged on this node (no package, no room): no retries
                self.report.dropped.append(reason(exc))
                self._retire(slot)
            else:
                self._failed(slot)
            return
        slot.staged = True
        idle.append(slot)

    def _retire_late(self) -> None:
        now = time.monotonic()
        for ref, entry in list(self._starting.items()):
            if entry.deadline <= now:
                del self._starting[ref]
                self.report.dropped.append(f"not placed and staged within {self.settings.ready_timeout_s:.0f} s")
                self._retire(entry.slot)

    def _failed(self, slot: _Slot) -> None:
        """Replace the slot's prover on its node, or retire the slot."""
        slot.failures += 1
        self.ray.kill(slot.handle)
        alive = {node["NodeID"] for node in self.ray.nodes() if node.get("Alive")}
        if slot.node_id not in alive or slot.failures > self.settings.max_restarts:
            self._retire(slot)
            return
        self._launch(slot)  # stages again, from the node's cache
        self.report.restarted += 1

    def _retire(self, slot: _Slot) -> None:
        self.ray.kill(slot.handle)
        if slot in self.slots:
            self.slots.remove(slot)
            self.report.retired += 1
            self._count()

    def close(self) -> None:
        for slot in self.slots:
            self.ray.kill(slot.handle)
        self.slots = []
        self._starting.clear()


def written(task: ProofTask, remote: RemoteOutcome) -> ProofOutcome:
    """The outcome with its proof written on this machine, atomically, where asked; a
    proof that cannot be written there is that task's failure, as with the pool."""
    outcome = remote.outcome
    if outcome.error is not None or remote.proof_bytes is None:
        return outcome
    try:
        write_bytes_atomic(task.proof_out, remote.proof_bytes)
    except (ProverError, OSError) as exc:
        message = exc.message if isinstance(exc, ProverError) else f"cannot write {task.proof_out}: {exc.strerror}"
        return ProofOutcome(task.label, error=one_line(message, task.label))
    return ProofOutcome(
        outcome.label,
        proof=task.proof_out,
        prove_seconds=outcome.prove_seconds,
        outputs=outcome.outputs,
        worker_peak_rss=outcome.worker_peak_rss,
    )


def total_resources(ray: ModuleType) -> list[dict[str, float]]:
    return [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]


def reason(exc: BaseException) -> str:
    """An exception's message on one line (Ray's carry tracebacks and blank lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
