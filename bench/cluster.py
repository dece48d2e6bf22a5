"""Proofs per minute, local process pool vs Ray backend, side by side; and a cold node's
time to first proof.

Run: .venv/bin/python bench/cluster.py [--inputs 120] [--rounds 3] [--workdir DIR]

It runs itself inside a loopback-only network namespace (tests/loopback), where Ray stays
on 127.0.0.1. One local Ray instance with this machine's cores stands for a running
cluster: it is started once (its start-up is reported apart), and every Ray batch then
pays what `prove-batch --backend ray --ray-address ...` pays: placing its provers,
staging from the node's cache, proving, writing. The pool pays its own start-up and
staging in every batch too. Rounds alternate which backend goes first; figures are
medians. Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import prover
from models import get_model
from prover.proving.backends import ProofTask
from prover.proving.batch import BatchResult, prove_batch
from prover.proving.circuit import Circuit
from prover.proving.memory import usable_cores
from prover.proving.prove import write_input
from prover.proving.ray_backend import RayBackend, RaySettings
from prover.proving.ray_node import CACHE_ENV

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("fee", "digits")


def loopback_only() -> bool:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines] == ["lo"]


def write_inputs(name: str, folder: Path, count: int) -> list[Path]:
    heldout = get_model(name).heldout_set()
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        path = folder / f"{name}{index:03d}.json"
        write_input(path, [heldout[index % len(heldout) : index % len(heldout) + 1]])
        files.append(path)
    return files


def checked(circuit: Circuit, result: BatchResult, expected: int) -> float:
    """The batch's proofs per minute, once its proofs are known to be real."""
    assert len(result.proved) == expected, [item.error for item in result.failed]
    for item in result.proved[:3]:
        assert item.proof is not None and circuit.verify(item.proof).valid
    return result.proofs_per_minute


def cold_start(circuit: Circuit, cache: Path, sample: Path, out: Path) -> dict[str, float]:
    """Time to the first proof on a node that has never seen the circuit (empty cache), then
    on one that has: placing a prover, pulling and staging the artifacts, one proof."""
    figures = {}
    for state in ("cold", "warm"):
        if state == "cold":
            shutil.rmtree(cache, ignore_errors=True)
        backend = RayBackend(RaySettings(max_provers=1))
        task = ProofTask(sample.name, circuit.load_input(sample, sample.name), out / f"{state}.proof.json")
        start = time.perf_counter()
        try:
            (outcome,) = list(backend.prove_many(circuit, [task]))
            seconds = time.perf_counter() - start
            (report,) = backend.reports()
        finally:
            backend.close()
        assert outcome.error is None and circuit.verify(task.proof_out).valid
        figures[f"{state}_first_proof_s"] = round(seconds, 3)
        figures[f"{state}_staging_s"] = round(report.cold_start_seconds, 3)
        figures[f"{state}_pulled_bytes"] = sum(stage.pulled_bytes for stage in report.staging)
        figures[f"{state}_prove_s"] = round(outcome.prove_seconds, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=120, help="inputs per batch and circuit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".cache" / "bench-cluster")
    args = parser.parse_args()
    if not loopback_only():
        os.execv(str(ROOT / "tests" / "loopback"), [str(ROOT / "tests" / "loopback"), sys.executable, *sys.argv])
    import ray  # noqa: PLC0415 (the optional extra; after the re-exec, which needs none of it)

    workdir = args.workdir.resolve()
    cores = usable_cores()
    circuits = {name: prover.build(name, workdir) for name in NAMES}
    inputs = {name: write_inputs(name, workdir / "inputs" / name, args.inputs) for name in NAMES}
    scratch = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    os.environ[CACHE_ENV] = str(scratch / "node-cache")  # the local node's workers inherit it
    start = time.perf_counter()
    ray.init(address="local", num_cpus=cores, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    rows: dict[str, dict[str, object]] = {}
    try:
        for name in NAMES:
            rows[name] = cold_start(circuits[name], scratch / "node-cache", inputs[name][0], scratch)
        rates: dict[str, dict[str, list[float]]] = {name: {"pool": [], "ray": []} for name in NAMES}
        for round_index in range(args.rounds):
            order = ("pool", "ray") if round_index % 2 == 0 else ("ray", "pool")
            for name in NAMES:
                for kind in order:
                    out = scratch / f"{name}-{kind}-{round_index}"
                    circuit, files = circuits[name], inputs[name]
                    if kind == "pool":
                        result = prove_batch(circuit, files, out, cores)
                    else:
                        backend = RayBackend(RaySettings(max_provers=len(files)))
                        try:
                            result = prove_batch(circuit, files, out, cores, backend=backend)
                        finally:
                            backend.close()
                    rates[name][kind].append(checked(circuit, result, len(files)))
                    shutil.rmtree(out)
                    rate = rates[name][kind][-1]
                    print(f"round {round_index + 1} {name} {kind}: {rate:.1f} proofs/min", file=sys.stderr)
        for name in NAMES:
            pool, on_ray = statistics.median(rates[name]["pool"]), statistics.median(rates[name]["ray"])
            rows[name].update(
                pool_proofs_per_min=round(pool, 1),
                ray_proofs_per_min=round(on_ray, 1),
                ray_overhead=round(1 - on_ray / pool, 3),
                pool_runs=[round(rate, 1) for rate in rates[name]["pool"]],
                ray_runs=[round(rate, 1) for rate in rates[name]["ray"]],
            )
    finally:
        ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    document = {
        "inputs_per_batch": args.inputs,
        "rounds": args.rounds,
        "cores": cores,
        "ray_local_instance_start_s": round(ray_start_s, 2),
        "circuits": rows,
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
