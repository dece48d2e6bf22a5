"""The main job, end to end on an embedded anvil: a pool whose fee follows a verified model.

Build the fee circuit, deploy its verifier, register the model version (its artifact hashes
and lineage) in the model registry, then deploy the pool pinned to both; feed the pool a
calm and a volatile stretch of simulated prices and, after each, prove the model over the
pool's own observations and submit the update. Every number in the result comes from the
chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.fee import START_PRICE
from prover.consumers.base import Consumer, DemoReport, Pin, consumer_contract, deploy_consumer, submit
from prover.consumers.fee.operations import SIMULATION_SEED, simulated_stretch
from prover.evm.client import Chain, call, connect, transact
from prover.evm.node import advance_time
from prover.evm.verifier import deploy_verifier
from prover.pipeline.builds import build_reference
from prover.progress import Reporter, timed_stage
from prover.proving.circuit import open_circuit
from prover.registry.contract import open_registry
from prover.registry.versions import register

DEMO_SEED = SIMULATION_SEED
PRICES_PER_REGIME = 12


def run_demo(
    consumer: Consumer, workdir: Path, reporter: Reporter, rpc_url: str | None = None, private_key: str | None = None
) -> DemoReport:
    build_reference("fee", workdir, reporter=reporter)
    circuit = open_circuit("fee", workdir)
    updates: list[dict[str, Any]] = []
    with connect(rpc_url, private_key, log_dir=workdir) as chain:
        with timed_stage(reporter, "deploy", "verifier") as outcome:
            verifier = deploy_verifier(chain, circuit)
            outcome.detail = verifier.address
        with timed_stage(reporter, "register", "fee in the model registry") as outcome:
            registry = open_registry(chain, workdir, deploy_if_missing=True)
            registration = register(chain, registry, circuit, verifier=verifier.address)
            outcome.detail = f"model {registration.model_id} version {registration.version}"
        with timed_stage(reporter, "deploy", "pool, pinned to the verifier and the registry") as outcome:
            pool_deploy = deploy_consumer(
                chain, consumer, circuit, Pin(verifier.address, registry.address, registration.model_id)
            )
            outcome.detail = pool_deploy.address
        pool = consumer_contract(chain, consumer, circuit, pool_deploy.address)
        last_price = START_PRICE
        for offset, regime in enumerate(("calm", "volatile")):
            with timed_stage(reporter, regime, f"{PRICES_PER_REGIME} swaps, prove, updateFee") as outcome:
                for price in simulated_stretch(regime, PRICES_PER_REGIME, DEMO_SEED + offset, last_price):
                    transact(chain, pool, "recordPrice", price)
                    last_price = price
                _wait_for_update_window(chain, pool)
                update = submit(chain, consumer, circuit, pool, workdir / f"fee-{regime}.proof.json")
                outcome.detail = f"fee {update.details['old_fee_bps']} -> {update.details['new_fee_bps']} bps"
            updates.append({"regime": regime, **update.document()})
    rows = [
        [
            u["regime"],
            f"{u['old_fee_bps']} bps",
            f"{u['new_fee_bps']} bps",
            f"{u['volatility']:.3f} %",
            f"{u['verify_gas']:,}" if u["verify_gas"] else "-",
            f"{u['gas_used']:,}",
            f"{u['proof_bytes']:,}",
            f"{u['prove_seconds']:.2f} s",
        ]
        for u in updates
    ]
    register_gas = (registration.create_gas or 0) + registration.register_gas
    return DemoReport(
        title="AdaptiveFeePool on an embedded anvil"
        if rpc_url is None
        else f"AdaptiveFeePool on chain {chain.chain_id}",
        columns=[
            "regime",
            "fee before",
            "fee after",
            "predicted vol",
            "verifyProof gas",
            "updateFee gas",
            "proof bytes",
            "proving time",
        ],
        rows=rows,
        facts=[
            f"fee is model {registration.model_id} version {registration.version} in registry {registry.address}",
            f"gas: verifier deploy {verifier.gas_used or 0:,}, register {register_gas:,}, "
            f"pool deploy {pool_deploy.gas_used:,}",
        ],
        document={
            "verifier": verifier.address,
            "pool": pool_deploy.address,
            "registry": registry.address,
            "model_id": registration.model_id,
            "version": registration.version,
            "verifier_deploy_gas": verifier.gas_used,
            "register_gas": register_gas,
            "pool_deploy_gas": pool_deploy.gas_used,
            "updates": updates,
        },
    )


def _wait_for_update_window(chain: Chain, pool: Any) -> None:
    """On a dev chain, move time past the pool's rate limit instead of sleeping."""
    if chain.node is None:
        return
    interval = int(call(chain, pool, "minUpdateInterval"))
    advance_time(chain.w3, interval + 1)
