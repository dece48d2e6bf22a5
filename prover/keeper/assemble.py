"""Put a keeper together from names: the circuits it serves, the market it watches, the
outbox it resumes from, the pool that proves. What `prover serve` and the demo call.

A circuit is served only if the market serves its registered version with the circuit's
own shape: a keeper proving a shape the market does not expect would only collect
`WrongInstanceCount` refusals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from web3.contract import Contract

from prover.errors import ProverError
from prover.evm.client import Chain, call
from prover.evm.deployments import chain_instance, load_deployments
from prover.keeper.database import outbox_path
from prover.keeper.metrics import KeeperMetrics
from prover.keeper.outbox import Outbox
from prover.keeper.sender import Sender, SenderConfig
from prover.keeper.serve import Keeper
from prover.keeper.settings import ServeConfig, Served
from prover.market.actions import registered_model
from prover.market.contract import MARKET_KEY, market_artifact
from prover.market.shape import shape_of
from prover.progress import Reporter
from prover.proving.circuit import open_circuit
from prover.proving.memory import plan_workers
from prover.proving.pool import KeptPoolBackend
from prover.proving.ray_backend import RayBackend, RaySettings


def served_versions(
    chain: Chain, workdir: Path, market: Contract, names: Sequence[str], reporter: Reporter
) -> list[Served]:
    """The circuits among `names` whose registered version the market serves as built."""
    served = []
    for name in names:
        circuit = open_circuit(name, workdir)
        shape = shape_of(circuit)
        model_id, version = registered_model(chain, workdir, circuit)
        on_chain, serving = call(chain, market, "shapeOf", model_id, version)
        if not serving:
            reporter.warn(f"{name}: the market does not serve model {model_id} version {version}; not serving it")
            continue
        if tuple(int(x) for x in on_chain) != shape.as_tuple():
            reporter.warn(f"{name}: the market serves model {model_id} v{version} with another shape; not serving it")
            continue
        served.append(Served(model_id, version, circuit, shape))
    if not served:
        raise ProverError(
            "none of the circuits is served by this market",
            hint="the model's owner runs `prover market offer NAME --price P` for a registered circuit",
        )
    return served


def start_block(chain: Chain, workdir: Path, market: Contract) -> int:
    """Where the first log scan starts: the market's deployment block when recorded."""
    entry = load_deployments(workdir, chain).get(MARKET_KEY)
    if entry is not None and str(entry.get("address", "")).lower() == market.address.lower():
        return int(entry.get("block_number") or 0)
    return 0


@contextlib.contextmanager
def keeper_for(
    chain: Chain,
    workdir: Path,
    market: Contract,
    names: Sequence[str],
    *,
    config: ServeConfig,
    sender_config: SenderConfig | None = None,
    reporter: Reporter | None = None,
    metrics: KeeperMetrics | None = None,
    outbox: Path | None = None,
    ray: RaySettings | None = None,
) -> Iterator[Keeper]:
    """A keeper ready to `run`, with its outbox locked and its provers started lazily (a Ray
    backend joins its cluster at once); both are released when the block ends, however it
    ends. `outbox` overrides the file (default: one per chain instance and market under
    `workdir/keeper/`). With `ray`, the proofs are made on a Ray cluster: one prover per
    circuit and node, taken in turn (the keeper proves one request at a time)."""
    reporter = reporter or Reporter()
    served = served_versions(chain, workdir, market, names, reporter)
    proof_dir = workdir / "keeper" / "proofs" / f"{chain.chain_id}-{market.address.lower()}"
    proof_dir.mkdir(parents=True, exist_ok=True)
    token_abi = market_artifact(workdir, "TestStablecoin")["abi"]
    abi = [*market.abi, *token_abi]
    path = outbox or outbox_path(workdir, chain.chain_id, market.address, chain_instance(chain))
    backend: KeptPoolBackend | RayBackend
    if ray is not None:  # joins (or starts) Ray now: last, so nothing above can leave it running
        backend = RayBackend(replace(ray, actors_per_node=1), reporter)
    else:
        largest = max(served, key=lambda s: s.circuit.paths.pk.stat().st_size).circuit
        backend = KeptPoolBackend(plan_workers(largest.paths, largest.srs_path(), requested=1, tasks=1))
    with contextlib.closing(backend), Outbox.open(path) as box:
        sender = Sender.on(chain, box, abi, sender_config or SenderConfig(poll_interval=0.2), reporter)
        keeper = Keeper(
            chain,
            market,
            token_abi,
            box,
            sender,
            served,
            backend,
            proof_dir,
            config=config,
            start_block=start_block(chain, workdir, market),
            reporter=reporter,
            metrics=metrics,
        )
        yield keeper
