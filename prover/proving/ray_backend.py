"""The Ray proving backend: the same `prove_many` as the local pool, over a Ray cluster.

Per circuit, a fleet of actors (`ray_node.CircuitProver`) is placed node by node: as many
per node as its CPUs hold at `threads` each, and as its memory holds at the pool's own
prediction of one prover's peak (declared to Ray as the actor's `memory`, so Ray never
packs more onto a node). Each actor pulls the circuit's artifacts into its node's
sha256-keyed cache once and then proves from there. A fleet is kept until `close`, so a
keeper pays the start once per circuit; `prove-batch` closes it after the batch.

The driver hands each actor one task at a time and writes every proof itself, once per
task: a task whose actor died (its process killed, its node gone) goes back to the front
of the queue, at most `max_attempts` times, and a result that still arrives for a task
already proved is dropped. A dead actor is replaced on its node (at most `max_restarts`
times in a row); one whose node is gone, or that keeps dying, is retired and the others
carry on.
Decisions here never depend on timings: only on what Ray reports.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from prover.artifacts import sha256_file, write_bytes_atomic
from prover.errors import ProverError
from prover.progress import Reporter
from prover.proving.backends import ProofOutcome, ProofTask, one_line
from prover.proving.circuit import Circuit
from prover.proving.memory import MIB, predict_worker_bytes, staged_bytes, usable_cores
from prover.proving.ray_node import Artifact, CircuitProver, RemoteOutcome, Staging

#: how long the address check waits for the head's port (a liveness bound, not a measurement)
CONNECT_TIMEOUT_S = 10.0
EXTRA_HINT = "install the extra on every node: pip install 'zkml-prover[cluster]'"


class NoCapacityError(ProverError):
    """No alive node has the CPUs and memory for one more prover of the circuit."""


def require_ray() -> ModuleType:
    """Ray, or the one-line error that names the extra which installs it."""
    try:
        import ray
    except ImportError:
        raise ProverError("--backend ray needs Ray, which is not installed here", hint=EXTRA_HINT) from None
    return ray


@dataclass(frozen=True)
class RaySettings:
    """How the backend joins a cluster and sizes its fleets.

    `address` None starts a local Ray instance with this machine's cores (stopped on
    `close`); else it joins that cluster (`auto`, `HOST:6379`, `ray://HOST:10001`).
    """

    address: str | None = None
    threads: int = 1  # one single-threaded prover per core was fastest here (see prove-batch)
    actors_per_node: int | None = None
    max_provers: int | None = None  # a batch of 4 inputs needs no more than 4 provers
    max_attempts: int = 3
    max_restarts: int = 2
    ready_timeout_s: float = 600.0


@dataclass
class Held:
    """What this backend's fleets hold per node, in Ray's resources."""

    cpus: Counter[str] = field(default_factory=Counter)
    memory: Counter[str] = field(default_factory=Counter)


@dataclass
class _Slot:
    """One actor of a fleet and what the driver knows of it."""

    handle: Any
    node_id: str
    failures: int = 0


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

    @property
    def cold_start_seconds(self) -> float:
        """The slowest actor's pull-and-stage: what a batch waits before its first proof there."""
        return max((stage.seconds for stage in self.staging), default=0.0)


class _Fleet:
    """One circuit's actors across the cluster."""

    def __init__(self, ray: ModuleType, circuit: Circuit, settings: RaySettings, busy: Held) -> None:
        self.ray, self.settings = ray, settings
        files = circuit.proving_files()
        sources = (files.compiled, files.pk, files.srs)
        artifacts = [
            Artifact(path.name, sha256_file(path), path.stat().st_size, [ray.put(path.read_bytes())])
            for path in sources
        ]
        predicted = predict_worker_bytes(staged_bytes(circuit.paths, files.srs), settings.threads)
        self.report = FleetReport(circuit.name, threads=settings.threads, predicted_actor_bytes=predicted)
        # the object-store copies live as long as the fleet: a replacement actor pulls from them
        self._arguments = (artifacts, files.output_scales, settings.threads, circuit.name)
        slots = [
            self._start(node_id) for node_id, count in self._placement(predicted, busy).items() for _ in range(count)
        ]
        self.slots = self._ready(slots, circuit.name)
        self.report.actors = len(self.slots)
        self.report.nodes = len({slot.node_id for slot in self.slots})

    def _start(self, node_id: str) -> _Slot:
        """A new prover pinned to `node_id`. The driver restarts provers itself (Ray's
        `max_restarts` stays 0): it knows whether the node is still there, and counts."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options = self.ray.remote(CircuitProver).options(
            num_cpus=self.settings.threads,
            memory=self.report.predicted_actor_bytes,
            max_restarts=0,
            max_task_retries=0,  # the driver retries, so it can count attempts and write once
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        )
        return _Slot(options.remote(*self._arguments), node_id)

    def _placement(self, predicted: int, busy: Held) -> dict[str, int]:
        """Provers per alive node: what its CPUs and memory take, less what this backend's
        other fleets hold there, at most `actors_per_node`; and no more than `max_provers`
        in all, dealt one node at a time so that a small batch still uses every node."""
        capacity = {}
        for node in self.ray.nodes():
            if not node.get("Alive"):
                continue
            node_id, resources = node["NodeID"], node.get("Resources", {})
            cpus = int(resources.get("CPU", 0)) - busy.cpus[node_id]
            memory = int(resources.get("memory", 0)) - busy.memory[node_id]
            count = min(cpus // self.settings.threads, memory // predicted)
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

    def _ready(self, slots: list[_Slot], name: str) -> list[_Slot]:
        """The actors that staged the circuit; the others are killed, and if none did, the
        first reason is the error."""
        if not slots:
            raise NoCapacityError(
                f"no Ray node has a free CPU and {self.report.predicted_actor_bytes / MIB:.0f} MiB "
                f"for a prover of {name}",
                hint="add nodes or CPUs to the cluster, or lower --workers for the other circuits",
            )
        refs = {slot.handle.staged.remote(): slot for slot in slots}
        ready, _late = self.ray.wait(list(refs), num_returns=len(refs), timeout=self.settings.ready_timeout_s)
        kept, reasons = [], []
        for ref, slot in refs.items():
            if ref not in ready:
                reasons.append(f"an actor was not placed within {self.settings.ready_timeout_s:.0f} s")
                self.ray.kill(slot.handle)
                continue
            try:
                self.report.staging.append(self.ray.get(ref))
            except self.ray.exceptions.RayError as exc:
                reasons.append(_reason(exc))
                self.ray.kill(slot.handle)
                continue
            kept.append(slot)
        if not kept:
            raise ProverError(f"no Ray actor could stage {name}: {reasons[0]}", hint=EXTRA_HINT)
        return kept

    def prove(self, tasks: Sequence[ProofTask]) -> Iterator[ProofOutcome]:
        ray = self.ray
        queue: deque[ProofTask] = deque(tasks)
        attempts: Counter[str] = Counter()
        done: set[str] = set()
        idle = list(self.slots)
        running: dict[Any, tuple[_Slot, ProofTask]] = {}
        while queue or running:
            while idle and queue:
                slot, task = idle.pop(), queue.popleft()
                attempts[task.label] += 1
                running[slot.handle.prove.remote(task)] = (slot, task)
            if not running:
                raise ProverError(
                    f"every Ray actor of {self.report.circuit} is gone, {len(queue)} of {len(tasks)} proofs not made",
                    hint="the proofs already written are valid; rerun the batch for the rest when the cluster is back",
                )
            (ref,), _ = ray.wait(list(running), num_returns=1)
            slot, task = running.pop(ref)
            try:
                remote: RemoteOutcome = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # our code raised on the node: this task's failure
                idle.append(slot)
                done.add(task.label)
                yield ProofOutcome(task.label, error=one_line(_reason(exc), task.label))
                continue
            except ray.exceptions.RayError as exc:  # the actor died under the task, or its node did
                yield from self._lost(slot, task, exc, attempts, queue, idle, done)
                continue
            slot.failures = 0
            idle.append(slot)
            if task.label in done:
                continue
            done.add(task.label)
            self.report.proofs_per_node[remote.node_id] += remote.outcome.error is None
            yield self._written(task, remote)

    def _lost(
        self,
        slot: _Slot,
        task: ProofTask,
        exc: Exception,
        attempts: Counter[str],
        queue: deque[ProofTask],
        idle: list[_Slot],
        done: set[str],
    ) -> Iterator[ProofOutcome]:
        """A task whose actor died: back to the front of the queue while it has attempts
        left; the actor replaced on its node, unless the node is gone or its provers there
        died more than `max_restarts` times in a row."""
        slot.failures += 1
        self.ray.kill(slot.handle)
        alive = {node["NodeID"] for node in self.ray.nodes() if node.get("Alive")}
        if slot.node_id in alive and slot.failures <= self.settings.max_restarts:
            slot.handle = self._start(slot.node_id).handle  # stages again, from the node's cache
            self.report.restarted += 1
            idle.append(slot)
        else:
            self.slots.remove(slot)
            self.report.retired += 1
        if attempts[task.label] < self.settings.max_attempts:
            self.report.retried += 1
            queue.appendleft(task)
            return
        done.add(task.label)
        yield ProofOutcome(
            task.label,
            error=one_line(f"its prover died {attempts[task.label]} times ({_reason(exc)})", task.label),
        )

    @staticmethod
    def _written(task: ProofTask, remote: RemoteOutcome) -> ProofOutcome:
        """The outcome with its proof written on this machine, atomically, where asked."""
        outcome = remote.outcome
        if outcome.error is not None or remote.proof_bytes is None:
            return outcome
        write_bytes_atomic(task.proof_out, remote.proof_bytes)
        return ProofOutcome(
            outcome.label,
            proof=task.proof_out,
            prove_seconds=outcome.prove_seconds,
            outputs=outcome.outputs,
            worker_peak_rss=outcome.worker_peak_rss,
        )

    def close(self) -> None:
        for slot in self.slots:
            self.ray.kill(slot.handle)
        self.slots = []


class RayBackend:
    """Proves on a Ray cluster (or a local Ray instance), one kept fleet per circuit."""

    def __init__(self, settings: RaySettings | None = None, reporter: Reporter | None = None) -> None:
        self.settings = settings or RaySettings()
        self.reporter = reporter or Reporter()
        self.ray = require_ray()
        self._fleets: dict[Path, _Fleet] = {}
        self._started = False
        if not self.ray.is_initialized():
            self._connect()

    def _connect(self) -> None:
        common: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if self.settings.address is not None:
            _check_listening(self.settings.address)
        try:
            if self.settings.address is None:
                self.ray.init(address="local", num_cpus=usable_cores(), include_dashboard=False, **common)
            else:
                self.ray.init(address=self.settings.address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = self.settings.address or "a local Ray instance"
            raise ProverError(
                f"could not join Ray at {where}: {_reason(exc)}",
                hint="run prover on a node of the cluster (join it with `ray start` first) and pass the "
                "head's address, or none for a local instance (docs/cluster.md)",
            ) from None
        self._started = True

    def prove_many(self, circuit: Circuit, tasks: Sequence[ProofTask]) -> Iterator[ProofOutcome]:
        fleet = self.fleet(circuit)
        try:
            yield from fleet.prove(tasks)
        except ProverError:
            self._fleets.pop(circuit.paths.root).close()
            raise

    def fleet(self, circuit: Circuit) -> _Fleet:
        """The circuit's fleet, placed and staged at its first use. Where this backend's
        other fleets hold every CPU, the least recently used one is stopped to make room
        (a keeper serving more circuits than the cluster has CPUs)."""
        key = circuit.paths.root
        fleet = self._fleets.pop(key, None)
        if fleet is None:
            fleet = self._new_fleet(circuit)
        self._fleets[key] = fleet  # last in the dict = most recently used
        return fleet

    def _new_fleet(self, circuit: Circuit) -> _Fleet:
        while True:
            busy = Held()
            for other in self._fleets.values():
                for slot in other.slots:
                    busy.cpus[slot.node_id] += other.settings.threads
                    busy.memory[slot.node_id] += other.report.predicted_actor_bytes
            try:
                fleet = _Fleet(self.ray, circuit, self.settings, busy)
                break
            except NoCapacityError:
                if not self._fleets:
                    raise
                oldest = next(iter(self._fleets))
                self.reporter.note(f"ray: stopping the provers of {self._fleets[oldest].report.circuit} to make room")
                self._fleets.pop(oldest).close()
        report = fleet.report
        self.reporter.note(
            f"ray: {report.actors} prover(s) of {circuit.name} on {report.nodes} node(s), "
            f"{report.threads} thread(s) and about {report.predicted_actor_bytes / MIB:.0f} MiB each; "
            f"staged in {report.cold_start_seconds:.1f} s"
        )
        return fleet

    def reports(self) -> list[FleetReport]:
        return [fleet.report for fleet in self._fleets.values()]

    def close(self) -> None:
        for fleet in self._fleets.values():
            fleet.close()
        self._fleets.clear()
        if self._started:
            self.ray.shutdown()
            self._started = False


def _check_listening(address: str) -> None:
    """Refuse at once an address where nothing listens: Ray's own connect retries for many
    minutes (measured: still waiting after 10 minutes for 127.0.0.1:1)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ProverError(
            f"--ray-address {address!r} is not HOST:PORT",
            hint="the head's address as `ray start` printed it there (HOST:6379), or `auto` on a cluster node",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ProverError(
            f"nothing answers at --ray-address {address}: {exc.strerror or exc}",
            hint="start the cluster's head there (`ray start`, see docs/cluster.md), or check the address",
        ) from None


def _reason(exc: BaseException) -> str:
    """An exception's message on one line (Ray's carry tracebacks and blank lines)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
