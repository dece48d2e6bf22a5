"""The Ray backend on a real Ray cluster: two nodes started here with Ray's own
`ray.cluster_utils.Cluster`, real actors, real proofs, a node killed mid-batch.

Ray binds some servers to the machine's own address even when told 127.0.0.1, so these
tests run only inside a network namespace that has nothing but loopback: `make test`
runs pytest in one (tests/loopback). Elsewhere they skip and say why.

Each node gets its own artifact cache (PROVER_RAY_CACHE in the node's environment), as
separate machines would have, so "pulled once per node" is visible on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import run_cli
from market_env import Market, assert_balanced, make_request, serve_once
from test_prove_batch import fee_inputs

from prover.artifacts import sha256_file
from prover.keeper.metrics import KeeperMetrics
from prover.market.contract import RequestStatus, read_result
from prover.proving.backends import ProofOutcome, ProofTask
from prover.proving.batch import prove_batch
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.ray_backend import RayBackend, RaySettings
from prover.proving.ray_node import CACHE_ENV


def _interfaces() -> list[str]:
    """This process's network namespace's interfaces (/sys/class/net shows the namespace
    sysfs was mounted in, /proc/net/dev the caller's own)."""
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return ["unknown"]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


pytestmark = pytest.mark.skipif(
    _interfaces() != ["lo"],
    reason=f"Ray tests need a network namespace with only loopback (this one has {', '.join(_interfaces())}): "
    "`make test` makes one with `unshare -n` where it may (as root)",
)


@dataclass
class RayTestCluster:
    cluster: object
    caches: dict[str, Path]  # node id -> that node's artifact cache

    def add_node(self, cache: Path) -> tuple[object, str]:
        import ray

        before = {node["NodeID"] for node in ray.nodes()}
        node = self.cluster.add_node(num_cpus=1, env_vars={CACHE_ENV: str(cache)})  # type: ignore[attr-defined]
        self.cluster.wait_for_nodes()  # type: ignore[attr-defined]
        (node_id,) = {node["NodeID"] for node in ray.nodes() if node["Alive"]} - before
        self.caches[node_id] = cache
        return node, node_id


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayTestCluster]:
    """A head and one worker node, one CPU each, every server on 127.0.0.1."""
    import ray
    from ray.cluster_utils import Cluster

    root = tmp_path_factory.mktemp("ray-nodes")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "env_vars": {CACHE_ENV: str(root / "head")}},
    )
    try:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        head = {node["NodeID"] for node in ray.nodes()}
        env = RayTestCluster(cluster, {next(iter(head)): root / "head"})
        env.add_node(root / "worker")
        yield env
    finally:
        ray.shutdown()
        cluster.shutdown()


def _tasks(circuit: Circuit, folder: Path, count: int) -> list[ProofTask]:
    files = fee_inputs(folder, count)
    return [
        ProofTask(path.name, circuit.load_input(path, path.name), folder / f"{path.stem}.proof.json") for path in files
    ]


def files_of(circuit: Circuit) -> list[Path]:
    files = circuit.proving_files()
    return [files.compiled, files.pk, files.srs]


def _artifacts(circuit: Circuit) -> set[str]:
    files = circuit.proving_files()
    return {sha256_file(path) for path in (files.compiled, files.pk, files.srs)}


def test_a_batch_spreads_over_both_nodes_and_each_pulls_the_keys_once(
    built: Path, ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    circuit = open_circuit("fee", built)
    inputs, out = tmp_path / "inputs", tmp_path / "proofs"
    inputs.mkdir()
    files = fee_inputs(inputs, 8)
    for cache in ray_cluster.caches.values():  # cold nodes, whatever ran before
        shutil.rmtree(cache, ignore_errors=True)
    backend = RayBackend(RaySettings())
    try:
        result = prove_batch(circuit, files, out, 2, backend=backend)
        (report,) = backend.reports()
    finally:
        backend.close()
    assert [item.error for item in result.items] == [None] * 8
    assert report.nodes == 2 and report.actors == 2
    assert set(report.proofs_per_node) == set(ray_cluster.caches)  # both nodes proved
    assert sum(report.proofs_per_node.values()) == 8
    for item in result.items:
        assert item.proof is not None and circuit.verify(item.proof).valid, item.input
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{path.stem}.proof.json" for path in files)
    # each node's own cache holds the three files under their sha256, pulled once
    wanted = _artifacts(circuit)
    for cache in ray_cluster.caches.values():
        assert wanted <= {path.name for path in cache.iterdir()}
    total = sum(path.stat().st_size for path in (files_of(circuit)))
    assert sorted(stage.pulled_bytes for stage in report.staging) == [total, total]  # once per node
    # a new fleet (tomorrow's batch) finds every file in its node's cache and pulls nothing
    again = RayBackend(RaySettings())
    try:
        rerun = list(again.prove_many(circuit, _tasks(circuit, tmp_path / "again", 2)))
        (second,) = again.reports()
    finally:
        again.close()
    assert [outcome.error for outcome in rerun] == [None, None]
    assert [stage.pulled_bytes for stage in second.staging] == [0, 0]
    assert all(stage.cached_files == 3 for stage in second.staging)


def test_a_damaged_cache_entry_is_replaced_not_used(built: Path, ray_cluster: RayTestCluster, tmp_path: Path) -> None:
    circuit = open_circuit("fee", built)
    files = circuit.proving_files()
    for cache in ray_cluster.caches.values():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / sha256_file(files.pk)).write_bytes(b"\0" * files.pk.stat().st_size)  # the size is right
    backend = RayBackend(RaySettings())
    try:
        outcomes = list(backend.prove_many(circuit, _tasks(circuit, tmp_path, 2)))
        (report,) = backend.reports()
    finally:
        backend.close()
    assert [outcome.error for outcome in outcomes] == [None, None]
    assert [stage.pulled_bytes for stage in report.staging] == [files.pk.stat().st_size] * 2
    for cache in ray_cluster.caches.values():
        assert sha256_file(cache / sha256_file(files.pk)) == sha256_file(files.pk)


def test_a_node_killed_mid_batch_loses_no_proof_and_duplicates_none(
    built: Path, ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    """A third node joins, then dies while it proves: its task is proved elsewhere, once."""
    circuit = open_circuit("fee", built)
    node, victim = ray_cluster.add_node(tmp_path / "third-node-cache")
    tasks = _tasks(circuit, tmp_path, 12)
    backend = RayBackend(RaySettings())
    outcomes = []
    killed = False
    try:
        seen: Counter[str] = Counter()
        for outcome in backend.prove_many(circuit, tasks):
            outcomes.append(outcome)
            counts = backend.reports()[0].proofs_per_node
            (came_from,) = [node_id for node_id in counts if counts[node_id] != seen[node_id]]
            seen = Counter(counts)
            # the victim has proved, and this outcome came from another node: the victim is
            # proving a task right now (each free prover gets one before the driver waits)
            if not killed and seen[victim] and came_from != victim:
                # a machine that dies takes every process on it: its provers, then Ray's own
                for stage in backend.reports()[0].staging:
                    if stage.node_id == victim:
                        os.kill(stage.pid, signal.SIGKILL)
                ray_cluster.cluster.remove_node(node, allow_graceful=False)  # type: ignore[attr-defined]
                ray_cluster.caches.pop(victim)
                killed = True
        (report,) = backend.reports()
    finally:
        backend.close()
    assert killed
    labels = Counter(outcome.label for outcome in outcomes)
    assert labels == Counter(task.label for task in tasks)  # every task once, none twice
    assert [outcome.error for outcome in outcomes] == [None] * len(tasks)
    assert report.retried >= 1  # the victim's task, proved elsewhere
    # its prover is retired, or (Ray not yet knowing the node is gone) replaced by one that
    # never stages there and gets no task
    assert report.retired + report.restarted >= 1
    assert report.proofs_per_node[victim] < len(tasks)
    for task in tasks:
        assert circuit.verify(task.proof_out).valid, task.label
    assert sorted(path.name for path in tmp_path.glob("*.proof.json")) == sorted(t.proof_out.name for t in tasks)


def test_a_killed_prover_is_restarted_on_its_node(built: Path, ray_cluster: RayTestCluster, tmp_path: Path) -> None:
    circuit = open_circuit("fee", built)
    tasks = _tasks(circuit, tmp_path, 8)
    backend = RayBackend(RaySettings())
    outcomes: list[ProofOutcome] = []
    try:
        for outcome in backend.prove_many(circuit, tasks):
            outcomes.append(outcome)
            if len(outcomes) == 2:
                report = backend.reports()[0]
                os.kill(report.staging[0].pid, signal.SIGKILL)
        (report,) = backend.reports()
    finally:
        backend.close()
    assert Counter(outcome.label for outcome in outcomes) == Counter(task.label for task in tasks)
    assert [outcome.error for outcome in outcomes] == [None] * len(tasks)
    # replaced on its node; nothing retired (a node the previous test crashed may still be
    # listed alive for a while, and its prover then waits, unstaged, with no task)
    assert report.restarted == 1 and report.retired == 0
    for task in tasks:
        assert circuit.verify(task.proof_out).valid, task.label


def test_a_proof_that_cannot_be_written_here_is_one_failed_item(
    built: Path, ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    """The driver writes every proof: a target it cannot write fails that task only."""
    circuit = open_circuit("fee", built)
    good = _tasks(circuit, tmp_path, 3)
    (tmp_path / "a-file").write_text("")
    blocked = ProofTask("blocked", good[0].sample, tmp_path / "a-file" / "x.proof.json")
    backend = RayBackend(RaySettings())
    try:
        outcomes = {outcome.label: outcome for outcome in backend.prove_many(circuit, [*good, blocked])}
    finally:
        backend.close()
    assert set(outcomes) == {task.label for task in [*good, blocked]}
    error = outcomes["blocked"].error
    assert error is not None and error.startswith("blocked: ") and "\n" not in error
    for task in good:
        assert outcomes[task.label].error is None and circuit.verify(task.proof_out).valid


def test_a_kept_fleet_serves_one_task_at_a_time_in_turn(
    built: Path, ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    """The keeper's use: one task per call, the first outcome taken and the rest of the
    generator dropped. The fleet is kept (no second start) and its provers take turns."""
    circuit = open_circuit("fee", built)
    tasks = _tasks(circuit, tmp_path, 4)
    backend = RayBackend(RaySettings(actors_per_node=1))
    try:
        for task in tasks:
            outcome = next(iter(backend.prove_many(circuit, [task])))
            assert outcome.error is None and circuit.verify(task.proof_out).valid
        (report,) = backend.reports()
    finally:
        backend.close()
    staged_nodes = {stage.node_id for stage in report.staging}
    assert len(report.staging) == len(staged_nodes)  # each prover staged once: the fleet was kept
    assert sum(report.proofs_per_node.values()) == 4
    assert set(report.proofs_per_node) == staged_nodes and len(staged_nodes) >= 2  # in turn


@pytest.mark.chain
def test_the_keeper_fulfils_a_market_batch_on_ray(
    market_env: Market, ray_cluster: RayTestCluster, tmp_path: Path
) -> None:
    env = market_env
    values = [[0.1 * k - 0.3 for k in range(8)], [0.05 * k for k in range(8)]]
    ids = [make_request(env, index, vals) for index, vals in enumerate(values)]
    metrics = serve_once(env, tmp_path / "outbox.sqlite", KeeperMetrics(), ray=RaySettings())
    assert metrics.value("keeper_requests_total", {"event": "fulfilled"}) == 2
    for request_id in ids:
        status, _outputs = read_result(env.chain, env.market, request_id)
        assert status is RequestStatus.FULFILLED
    assert_balanced(env)


def test_the_cli_starts_a_local_ray_instance(built: Path, tmp_path: Path) -> None:
    """`--backend ray` with no address: a local Ray instance for the batch, stopped after it."""
    inputs, out = tmp_path / "inputs", tmp_path / "proofs"
    inputs.mkdir()
    fee_inputs(inputs, 4)
    result = run_cli(
        "prove-batch", "fee", "--inputs", inputs, "--out", out, "--workdir", built, "--json", "--backend", "ray",
        env={CACHE_ENV: str(tmp_path / "cache"), "RAY_ADDRESS": ""},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["backend"] == "ray" and document["proofs"] == 4
    (fleet,) = document["ray"]
    assert fleet["nodes"] == 1 and fleet["provers"] >= 1 and fleet["pulled_bytes"] > 0
    assert "4/4" in result.stderr  # the same progress bar as the pool's
    circuit = open_circuit("fee", built)
    assert all(circuit.verify(path).valid for path in out.iterdir())
