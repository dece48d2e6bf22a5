"""The main job, end to end on an embedded anvil: a pool whose fee follows a verified model.

Build the fee circuit, deploy its verifier, register the model version (its artifact hashes
and lineage) in the model registry, then deploy the pool pinned to both; feed the pool a
calm and a volatile stretch of simulated prices and, after each, prove the model over the
pool's own observations and submit the update. Every number in the result comes from the
chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from models.fee import START_PRICE, simulate_prices
from prover.chain import Chain, advance_time, call, connect, transact
from prover.onchain import FeeUpdate, PoolParams, deploy_fee_pool, deploy_verifier, fee_pool, submit_fee_update
from prover.pipeline import build_reference, open_circuit
from prover.progress import Reporter, SilentReporter, timed_stage
from prover.registry import open_registry, register

DEMO_SEED = 2024
PRICES_PER_REGIME = 12


@dataclass(frozen=True)
class DemoRow:
    regime: str
    update: FeeUpdate


@dataclass(frozen=True)
class DemoResult:
    verifier: str
    pool: str
    registry: str
    model_id: int
    version: int
    verifier_deploy_gas: int
    register_gas: int
    pool_deploy_gas: int
    rows: list[DemoRow]


def regime_prices(regime: str, start: int, seed: int) -> Iterator[int]:
    """A simulated stretch in one regime, rescaled to continue from `start`."""
    path = simulate_prices(PRICES_PER_REGIME + 1, seed, regime)
    for price in path[1:]:
        yield max(1, price * start // START_PRICE)


def run_demo(workdir: Path, reporter: Reporter | None = None, rpc_url: str | None = None,
             private_key: str | None = None) -> DemoResult:
    reporter = reporter or SilentReporter()
    build_reference("fee", workdir, reporter=reporter)
    paths, manifest = open_circuit("fee", workdir)
    params = PoolParams()
    with connect(rpc_url, private_key, log_dir=workdir) as chain:
        with timed_stage(reporter, "deploy", "verifier") as outcome:
            verifier = deploy_verifier(chain, paths, manifest)
            outcome.detail = verifier.address
        with timed_stage(reporter, "register", "fee in the model registry") as outcome:
            registry = open_registry(chain, workdir, deploy_if_missing=True)
            registration = register(chain, registry, paths, manifest, verifier=verifier.address)
            outcome.detail = f"model {registration.model_id} version {registration.version}"
        with timed_stage(reporter, "deploy", "pool, pinned to the verifier and the registry") as outcome:
            pool_deploy = deploy_fee_pool(chain, workdir, verifier.address, manifest, params, registry.address)
            outcome.detail = pool_deploy.address
        pool = fee_pool(chain, workdir, pool_deploy.address)
        rows = []
        price = START_PRICE
        for offset, regime in enumerate(("calm", "volatile")):
            with timed_stage(reporter, regime, f"{PRICES_PER_REGIME} swaps, prove, updateFee") as outcome:
                for price in regime_prices(regime, price, DEMO_SEED + offset):
                    transact(chain, pool, "recordPrice", price)
                _wait_for_update_window(chain, pool)
                update = submit_fee_update(chain, pool, paths, manifest, workdir / f"fee-{regime}.proof.json")
                outcome.detail = f"fee {update.old_fee_bps} -> {update.new_fee_bps} bps"
            rows.append(DemoRow(regime, update))
    return DemoResult(verifier.address, pool_deploy.address, registry.address, registration.model_id,
                      registration.version, verifier.gas_used,
                      (registration.create_gas or 0) + registration.register_gas, pool_deploy.gas_used, rows)


def _wait_for_update_window(chain: Chain, pool: object) -> None:
    """On a dev chain, move time past the pool's rate limit instead of sleeping."""
    if chain.node is None:
        return
    interval = int(call(chain, pool, "minUpdateInterval"))
    advance_time(chain.w3, interval + 1)
