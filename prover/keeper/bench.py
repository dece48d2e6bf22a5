"""`prover bench market`: what an inference costs and how fast the keeper serves, measured.

Three figures, each from one run on embedded anvils (never from a cache of results):
- gas per inference for each model and batch size: one fulfilment of a full batch of real
  requests with a real proof, divided by the requests it settled; beside it the verifier's
  own `verifyProof` gas for that proof (so `fulfil - verify` is the market's bookkeeping)
  and the request's gas;
- latency on a node mining a block a second: request mined -> fulfilment seen, with the
  keeper running and a batch-1 circuit, median of several requests;
- keeper throughput on the same node: a queue of requests served end to end (lock, prove
  the batch, fulfil) by one keeper, inferences per minute.
Wall-clock figures depend on this shared machine; the gas figures do not.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3.contract import Contract

from prover.datasets import load_dataset
from prover.evm.client import Chain, connect
from prover.evm.verifier import ensure_verifier, estimate_verify_gas
from prover.keeper.assemble import keeper_for
from prover.keeper.metrics import KeeperMetrics
from prover.keeper.settings import ServeConfig
from prover.market.contract import deploy_market, read_result
from prover.market.operations import fulfil_requests, lock_requests, request_inference, set_offer
from prover.market.shape import prove_requests, quantize, shape_of
from prover.market.token import deploy_test_token, mint
from prover.pipeline.builds import build_reference
from prover.progress import Reporter
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import open_registry
from prover.registry.versions import register

PRICE, PROVER_FEE = 1_000_000, 100_000
REQUESTERS = 4
#: the issue's targets (gas: whole fulfil per inference at batch 16 for fee)
TARGETS = {"fee_gas_per_inference_batch_16": 60_000, "latency_s": 5.0, "inferences_per_min": 120.0}


def circuit_name(model: str, batch: int) -> str:
    return model if batch == 1 else f"{model}_b{batch}"


def build_circuits(workdir: Path, models: Sequence[str], batches: Sequence[int], reporter: Reporter) -> None:
    for model in models:
        for batch in batches:
            reporter.note(f"building {circuit_name(model, batch)}")
            build_reference(model, workdir, batch=batch, circuit_name=circuit_name(model, batch))


@dataclass
class Stage:
    """A market on a chain with the bench's circuits offered, and funded requesters."""

    chain: Chain
    workdir: Path
    market: Contract
    token: Contract
    requesters: list[Chain]
    models: dict[str, int]  # circuit -> model id

    def requester(self, index: int) -> Chain:
        return self.requesters[index % len(self.requesters)]


def stage_market(chain: Chain, workdir: Path, circuits: Sequence[str]) -> Stage:
    registry = open_registry(chain, workdir, deploy_if_missing=True)
    market = deploy_market(chain, workdir, registry.address)
    token = deploy_test_token(chain, workdir)
    models = {}
    for name in circuits:
        circuit = open_circuit(name, workdir)
        registration = register(chain, registry, circuit)
        set_offer(
            chain, market, registration.model_id, registration.version, shape_of(circuit),
            token=token.address, payee=chain.address, price=PRICE, lock_stake=0, lock_window=300,
        )  # fmt: skip
        models[name] = registration.model_id
    assert chain.node is not None
    requesters = []
    for account in chain.node.dev_accounts()[1 : 1 + REQUESTERS]:
        requester = chain.signed_by(account.private_key)
        requesters.append(requester)
        mint(chain, token, requester.address, 100_000 * 10**6)  # 100,000 tUSD, below the faucet cap
    return Stage(chain, workdir, market, token, requesters, models)


def sample_inputs(circuit: Circuit, count: int) -> list[list[int]]:
    """`count` held-out inputs of the circuit, as requesters would send them."""
    shape = shape_of(circuit)
    heldout = load_dataset(circuit.paths.heldout, circuit.info.input_shapes)[0]
    rows = heldout.reshape(-1, shape.inputs_per_inference)
    return [quantize(rows[k % len(rows)].tolist(), shape.input_scale) for k in range(count)]


def request_many(stage: Stage, name: str, inputs: Sequence[list[int]], ttl_s: int = 3600) -> tuple[list[int], int]:
    """Send one request per input, round robin over the requesters; ids and mean gas."""
    ids, gas = [], []
    for k, fixed in enumerate(inputs):
        made = request_inference(
            stage.requester(k), stage.market, stage.token, stage.models[name], fixed, prover_fee=PROVER_FEE, ttl_s=ttl_s
        )
        ids.append(made.request_id)
        gas.append(made.sent.gas_used)
    return ids, int(statistics.mean(gas))


def measure_gas(stage: Stage, name: str, scratch: Path) -> dict[str, Any]:
    """One full batch of `name`: requested, locked, proved, fulfilled; gas per inference."""
    circuit = open_circuit(name, stage.workdir)
    shape = shape_of(circuit)
    inputs = sample_inputs(circuit, shape.batch_size)
    ids, request_gas = request_many(stage, name, inputs)
    lock = lock_requests(stage.chain, stage.market, stage.token, ids, 0)
    proof = prove_requests(circuit, shape, inputs, scratch / f"{name}.proof.json").proof
    verify_gas = estimate_verify_gas(stage.chain, _verifier_of(stage, name), proof)
    fulfil = fulfil_requests(stage.chain, stage.market, ids, proof)
    n = shape.batch_size
    return {
        "batch": n,
        "fulfil_gas": fulfil.gas_used,
        "fulfil_per_inference": fulfil.gas_used // n,
        "verify_per_inference": (verify_gas or 0) // n,
        "bookkeeping_per_inference": (fulfil.gas_used - (verify_gas or 0)) // n,
        "request_gas": request_gas,
        "lock_per_inference": lock.gas_used // n,
    }


def _verifier_of(stage: Stage, name: str) -> str:
    return ensure_verifier(stage.chain, open_circuit(name, stage.workdir)).address


def run_keeper(stage: Stage, names: Sequence[str], stop: threading.Event, metrics: KeeperMetrics) -> threading.Thread:
    """A keeper serving `names` in a thread until `stop` is set."""
    ready = threading.Event()

    def serve() -> None:
        config = ServeConfig(max_wait_s=0.5, poll_s=0.1)
        with keeper_for(stage.chain, stage.workdir, stage.market, names, config=config, metrics=metrics) as keeper:
            ready.set()
            keeper.run(stopping=stop.is_set)

    thread = threading.Thread(target=serve, name="keeper", daemon=True)
    thread.start()
    ready.wait(timeout=120)
    return thread


def wait_fulfilled(stage: Stage, ids: Sequence[int], timeout_s: float) -> float:
    """Seconds until every request in `ids` reads fulfilled (or the timeout)."""
    start = time.monotonic()
    pending = set(ids)
    while pending and time.monotonic() - start < timeout_s:
        pending = {rid for rid in pending if read_result(stage.chain, stage.market, rid)[0] != 2}
        if pending:
            time.sleep(0.05)
    if pending:
        raise TimeoutError(f"requests {sorted(pending)} were not fulfilled within {timeout_s:.0f} s")
    return time.monotonic() - start


def measure_latency(stage: Stage, name: str, runs: int) -> list[float]:
    circuit = open_circuit(name, stage.workdir)
    stop, metrics = threading.Event(), KeeperMetrics()
    thread = run_keeper(stage, [name], stop, metrics)
    try:
        seconds = []
        for fixed in sample_inputs(circuit, runs):
            ids, _gas = request_many(stage, name, [fixed])
            seconds.append(wait_fulfilled(stage, ids, 120))
        return seconds
    finally:
        stop.set()
        thread.join(timeout=120)


def measure_throughput(stage: Stage, name: str, count: int) -> dict[str, Any]:
    circuit = open_circuit(name, stage.workdir)
    ids, _gas = request_many(stage, name, sample_inputs(circuit, count))
    stop, metrics = threading.Event(), KeeperMetrics()
    started = time.monotonic()
    thread = run_keeper(stage, [name], stop, metrics)
    try:
        wait_fulfilled(stage, ids, 1800)
    finally:
        stop.set()
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    return {"circuit": name, "requests": count, "seconds": elapsed, "inferences_per_min": 60 * count / elapsed}


def run_market_bench(
    workdir: Path,
    models: Sequence[str],
    batches: Sequence[int],
    reporter: Reporter,
    *,
    latency_runs: int = 5,
    throughput_requests: int = 64,
) -> dict[str, Any]:
    build_circuits(workdir, models, batches, reporter)
    names = [circuit_name(model, batch) for model in models for batch in batches]
    scratch = workdir / "bench-market"
    scratch.mkdir(parents=True, exist_ok=True)
    gas: dict[str, dict[str, Any]] = {}
    with connect(None, node_args=("--disable-code-size-limit",)) as chain:
        stage = stage_market(chain, workdir, names)
        for model in models:
            for batch in batches:
                reporter.note(f"gas: {model} batch {batch}")
                gas.setdefault(model, {})[str(batch)] = measure_gas(stage, circuit_name(model, batch), scratch)
    throughput_circuit = circuit_name("fee", max(batches)) if "fee" in models else names[-1]
    with connect(None, node_args=("--disable-code-size-limit", "--block-time", "1")) as chain:
        stage = stage_market(chain, workdir, sorted({circuit_name(models[0], 1), throughput_circuit}))
        reporter.note("latency: batch 1, 1 s blocks")
        latencies = measure_latency(stage, circuit_name(models[0], 1), latency_runs)
        reporter.note(f"throughput: {throughput_requests} requests, {throughput_circuit}")
        throughput = measure_throughput(stage, throughput_circuit, throughput_requests)
    per_inference = {model: {b: row["fulfil_per_inference"] for b, row in rows.items()} for model, rows in gas.items()}
    return {
        "gas_per_inference": per_inference,
        "gas": gas,
        "latency_s": statistics.median(latencies),
        "latency_runs_s": latencies,
        "inferences_per_min": throughput["inferences_per_min"],
        "throughput": throughput,
        "targets": TARGETS,
    }
