"""The Ray proving backend: the same `prove_many` as the local pool, over a Ray cluster.

Per circuit, a fleet of provers (`ray_fleet.Fleet`, actors of `ray_node.CircuitProver`)
is placed over the cluster's nodes at the circuit's first batch; each prover pulls the
circuit's artifacts into its node's sha256-keyed cache once and then proves from there.
Fleets are kept until `close`, so a keeper pays the start once per circuit;
`prove-batch` closes them after the batch. Ray stays an optional extra
(`zkml-prover[cluster]`): it is imported here, when a backend is made, never at import.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from prover.errors import ProverError
from prover.progress import Reporter
from prover.proving.backends import ProofOutcome, ProofTask
from prover.proving.circuit import Circuit
from prover.proving.memory import MIB, usable_cores
from prover.proving.ray_fleet import (
    EXTRA_HINT,
    Fleet,
    FleetReport,
    Held,
    NoCapacityError,
    RaySettings,
    reason,
    total_resources,
)

#: how long the address check waits for the head's port (a liveness bound, not a measurement)
CONNECT_TIMEOUT_S = 10.0
#: Ray's own connect to a head, unless the user set it: by default 20 tries of about 40 s
#: each (12 minutes on a port where something else listens); one try is still 40 s long
RAY_CONNECT_ENV = {"RAY_gcs_server_port_wait_time_s": "1"}

__all__ = ["FleetReport", "RayBackend", "RaySettings", "require_ray"]


def require_ray() -> ModuleType:
    """Ray, or the one-line error that names the extra which installs it."""
    try:
        import ray
    except ImportError:
        raise ProverError("--backend ray needs Ray, which is not installed here", hint=EXTRA_HINT) from None
    return ray


class RayBackend:
    """Proves on a Ray cluster (or a local Ray instance), one kept fleet per circuit."""

    def __init__(self, settings: RaySettings | None = None, reporter: Reporter | None = None) -> None:
        self.settings = settings or RaySettings()
        self.reporter = reporter or Reporter()
        self.ray = require_ray()
        self._fleets: dict[Path, Fleet] = {}
        self._started = False
        if not self.ray.is_initialized():  # a caller (a test, a notebook) may have joined already
            self._connect()

    def _connect(self) -> None:
        common: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        where = self.settings.address or "a local Ray instance"
        try:
            if self.settings.address is None:
                self.ray.init(address="local", num_cpus=usable_cores(), include_dashboard=False, **common)
            else:
                check_listening(self.settings.address)
                for name, value in RAY_CONNECT_ENV.items():
                    os.environ.setdefault(name, value)
                self.ray.init(address=self.settings.address, **common)
        except ProverError:
            raise
        except (ConnectionError, RuntimeError, ValueError, OSError, self.ray.exceptions.RayError) as exc:
            raise ProverError(
                f"could not join Ray at {where}: {reason(exc)}",
                hint="run prover on a node of the cluster (join it with `ray start` first) and pass the "
                "head's address, or none for a local instance; a cluster with token authentication needs "
                "RAY_AUTH_MODE=token and its token here too (docs/cluster.md)",
            ) from None
        self._started = True

    def prove_many(self, circuit: Circuit, tasks: Sequence[ProofTask]) -> Iterator[ProofOutcome]:
        fleet = self.fleet(circuit)
        try:
            yield from fleet.prove(tasks)
        except GeneratorExit:  # the caller took what it wanted (a keeper: one outcome) or stopped
            if not fleet.clean:
                self._drop(circuit)
            raise
        except BaseException:  # a fleet that broke is made afresh next time
            self._drop(circuit)
            raise

    def _drop(self, circuit: Circuit) -> None:
        dropped = self._fleets.pop(circuit.paths.root, None)
        if dropped is not None:
            dropped.close()

    def fleet(self, circuit: Circuit) -> Fleet:
        """The circuit's fleet, placed and staged at its first use. Where the cluster has
        no room for it but would have without this backend's other fleets, the least
        recently used of those is stopped (a keeper serving more circuits than the
        cluster has CPUs)."""
        key = circuit.paths.root
        fleet = self._fleets.pop(key, None)
        if fleet is None:
            fleet = self._new_fleet(circuit)
        self._fleets[key] = fleet  # last in the dict = most recently used
        return fleet

    def _new_fleet(self, circuit: Circuit) -> Fleet:
        while True:
            held = Held()
            for other in self._fleets.values():
                for slot in other.slots:
                    held.cpus[slot.node_id] += other.settings.threads
                    held.memory[slot.node_id] += other.report.predicted_actor_bytes
            try:
                fleet = Fleet(self.ray, circuit, self.settings, held)
                break
            except NoCapacityError as exc:
                if not self._fleets or not self._fits_an_empty_node(exc):
                    raise
                oldest = next(iter(self._fleets))
                self.reporter.note(f"ray: stopping the provers of {self._fleets[oldest].report.circuit} to make room")
                self._fleets.pop(oldest).close()
        report = fleet.report
        for dropped in sorted(set(report.dropped)):
            self.reporter.warn(f"ray: a prover of {circuit.name} did not start: {dropped}")
        self.reporter.note(
            f"ray: {report.actors} prover(s) of {circuit.name} on {report.nodes} node(s), "
            f"{report.threads} thread(s) and about {report.predicted_actor_bytes / MIB:.0f} MiB each; "
            f"staged in {report.cold_start_seconds:.1f} s"
        )
        return fleet

    def _fits_an_empty_node(self, exc: NoCapacityError) -> bool:
        """Whether stopping fleets can help: some node could hold one prover if it were idle."""
        needed_cpus, needed_memory = exc.needs
        return any(
            total.get("CPU", 0) >= needed_cpus and total.get("memory", 0) >= needed_memory
            for total in total_resources(self.ray)
        )

    def reports(self) -> list[FleetReport]:
        return [fleet.report for fleet in self._fleets.values()]

    def close(self) -> None:
        try:
            for fleet in self._fleets.values():
                fleet.close()
            self._fleets.clear()
        finally:
            if self._started:
                self.ray.shutdown()
                self._started = False


def check_listening(address: str) -> None:
    """Refuse at once an address where nothing listens: Ray's own connect retries for many
    minutes (measured: still waiting after 10 minutes for 127.0.0.1:1)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in host:
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
