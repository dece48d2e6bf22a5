"""The fee pool consumer: an AMM pool whose swap fee follows a proven volatility forecast.

`AdaptiveFeePool` recomputes the fee model's inputs from its own price observations
(`expectedInputs()`), so the Python side reads those integers at one block, proves over
them and sends `updateFee(epoch, proof, instances)`. The policy (fee tiers, bounds, step,
rate limit) is fixed at deployment by `PoolParams`; the model can only move the fee within
it. The integer formula both sides share is `models.fee.fixed_point_features`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from web3.contract import Contract

from models.fee import FEE_THRESHOLDS, FEE_TIERS_BPS
from prover.consumers.base import DemoReport, Pin, Request, Submission
from prover.consumers.fee.demo import run_demo
from prover.consumers.fee.operations import (
    PauseChange,
    PoolStatus,
    RecordedPrices,
    check_prices,
    not_enough_prices,
    open_pool,
    read_status,
    record_prices,
    record_simulated,
    set_paused,
    simulated_stretch,
)
from prover.errors import ProverError, TransactionReverted
from prover.evm.client import Chain, call
from prover.progress import Reporter
from prover.proving.circuit import Circuit
from prover.proving.proofs import Proof


@dataclass(frozen=True)
class PoolParams:
    """Fee policy baked into the pool at deployment: the model can only move it within these."""

    initial_fee_bps: int = 30
    min_fee_bps: int = 5
    max_fee_bps: int = 100
    max_step_bps: int = 25
    min_update_interval_s: int = 60


def pool_constructor_args(circuit: Circuit, pin: Pin, params: PoolParams, owner: str) -> list[Any]:
    """AdaptiveFeePool's constructor arguments: pinned to the verifier, the registry and
    model, and the circuit's input and output scales, with the model's fee schedule and the
    policy (`FeePolicy`, a tuple in field order) and its owner."""
    info = circuit.info
    thresholds = [round(t * 1_000_000) for t in FEE_THRESHOLDS]
    policy = (
        thresholds,
        list(FEE_TIERS_BPS),
        params.initial_fee_bps,
        params.min_fee_bps,
        params.max_fee_bps,
        params.max_step_bps,
        params.min_update_interval_s,
    )
    return [pin.verifier, pin.registry, pin.model_id, info.input_scales[0], info.output_scales[0], policy, owner]


@dataclass(frozen=True)
class FeeConsumer:
    """`prover deploy fee` / `prover submit fee` / `prover demo fee`."""

    params: PoolParams = field(default_factory=PoolParams)
    name: str = "fee"
    contract: str = "AdaptiveFeePool"
    description: str = "AMM pool whose swap fee follows the proven volatility forecast (fee model)"

    def constructor_args(self, circuit: Circuit, pin: Pin, owner: str) -> list[Any]:
        return pool_constructor_args(circuit, pin, self.params, owner)

    def read_request(
        self, chain: Chain, contract: Contract, circuit: Circuit, block: int, request_file: Path | None
    ) -> Request:
        """The pool's epoch, fee and expected inputs, all at `block` (a price recorded in
        between would otherwise mislabel the epoch)."""
        if request_file is not None:
            raise ProverError(
                "the fee pool proves over its own prices: it takes no --input",
                hint="record prices in the pool (`prover pool record-price PRICE...`), then `prover submit fee`",
            )
        epoch = int(call(chain, contract, "currentEpoch", block=block))
        try:
            inputs = [int(value) for value in call(chain, contract, "expectedInputs", block=block)]
        except TransactionReverted as exc:
            if exc.error_name == "NotEnoughObservations":
                have, need = (cast(int, value) for value in exc.error_args)
                raise not_enough_prices(have, need) from None
            raise
        fee = int(call(chain, contract, "feeBps", block=block))
        return Request(block, inputs, {"epoch": epoch, "fee_bps": fee})

    def submit_call(self, request: Request, proof: Proof) -> tuple[str, list[Any]]:
        return "updateFee", [request.context["epoch"], proof.raw, proof.instances]

    def outcome(
        self, chain: Chain, contract: Contract, circuit: Circuit, request: Request, proof: Proof, receipt: Any
    ) -> dict[str, Any]:
        """The pool's own account of the update (its FeeUpdated event)."""
        event = dict(contract.events.FeeUpdated().process_receipt(receipt)[0]["args"])
        return {
            "epoch": int(event["epoch"]),
            "old_fee_bps": int(event["oldFeeBps"]),
            "new_fee_bps": int(event["newFeeBps"]),
            "volatility": int(event["volatility"]) / 2 ** circuit.info.output_scales[0],
        }

    def summary(self, submission: Submission) -> list[tuple[str, str]]:
        details = submission.details
        return [
            ("epoch", str(details["epoch"])),
            ("fee", f"{details['old_fee_bps']} -> {details['new_fee_bps']} bps"),
            ("predicted volatility", f"{details['volatility']:.4f} % per step"),
            ("updateFee gas", f"{submission.gas_used:,}"),
            ("proving time", f"{submission.prove_seconds:.3f} s"),
        ]

    def demo(
        self, workdir: Path, reporter: Reporter, rpc_url: str | None = None, private_key: str | None = None
    ) -> DemoReport:
        return run_demo(self, workdir, reporter, rpc_url, private_key)

    # -- `prover pool`: the deployed pool's state, prices and pause switch (operations.py) --

    def pool_status(self, chain: Chain, workdir: Path, circuit: str, address: str | None) -> PoolStatus:
        return read_status(chain, open_pool(chain, workdir, circuit, address))

    def record_prices(
        self, chain: Chain, workdir: Path, circuit: str, address: str | None, prices: Sequence[int]
    ) -> RecordedPrices:
        checked = check_prices(prices)  # before the pool is even looked up
        return record_prices(chain, open_pool(chain, workdir, circuit, address), checked)

    def record_simulated(
        self, chain: Chain, workdir: Path, circuit: str, address: str | None, regime: str, count: int, seed: int | None
    ) -> RecordedPrices:
        simulated_stretch(regime, count, 0)  # the arguments, checked before the pool is looked up
        return record_simulated(chain, open_pool(chain, workdir, circuit, address), regime, count, seed)

    def set_paused(self, chain: Chain, workdir: Path, circuit: str, address: str | None, paused: bool) -> PauseChange:
        return set_paused(chain, open_pool(chain, workdir, circuit, address), paused)
