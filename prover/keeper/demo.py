"""`prover demo market`: the inference market's story on an embedded anvil.

The registry and market are deployed with a test stablecoin; `digits` is registered with a
batch-4 circuit and `fee` with its own; their owner offers both. Three accounts ask for
the digit in an image of their own, and a loan-to-value contract buys a volatility forecast
over its own recorded prices. One keeper pass (`prover serve --once`) settles the three
digits requests with one proof and the forecast with another; the contract's ratio moves
in its callback; a request left past its deadline is refunded; the owner withdraws the
revenue. Every figure in the table is read from the chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from web3.contract import Contract
from web3.logs import DISCARD

from prover.consumers.base import DemoReport
from prover.datasets import load_dataset
from prover.evm.client import Chain, call, connect, contract_at, deploy, transact
from prover.evm.node import advance_time
from prover.keeper.assemble import keeper_for
from prover.keeper.metrics import KeeperMetrics
from prover.keeper.settings import ServeConfig
from prover.market.contract import RequestView, deploy_market, market_artifact, read_request, read_result
from prover.market.operations import request_inference, set_offer, withdraw_credit
from prover.market.shape import Shape, dequantize, quantize, shape_of
from prover.market.token import deploy_test_token, mint
from prover.pipeline.builds import build_reference
from prover.progress import Reporter, timed_stage
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import open_registry
from prover.registry.versions import register

DIGITS, DIGITS_BATCH, FEE = "digits_b4", 4, "fee"
UNIT = 10**6  # tUSD has 6 decimals
PRICES = {DIGITS: UNIT // 10, FEE: UNIT // 4}  # 0.10 and 0.25 tUSD per inference
PROVER_FEE = UNIT // 20
CALLBACK_GAS = 150_000
#: (min, max, max step, drop per 1 % of volatility), all in bps; the ratio starts at the max
LTV_POLICY = (5_000, 8_000, 500, 100)
SEED = 7


def build_circuits(workdir: Path, reporter: Reporter) -> tuple[Circuit, Circuit]:
    build_reference("digits", workdir, reporter=reporter, batch=DIGITS_BATCH, circuit_name=DIGITS)
    build_reference("fee", workdir, reporter=reporter)
    return open_circuit(DIGITS, workdir), open_circuit(FEE, workdir)


def _heldout_images(circuit: Circuit, shape: Shape, count: int) -> list[list[int]]:
    rows = load_dataset(circuit.paths.heldout, circuit.info.input_shapes)[0].reshape(-1, shape.inputs_per_inference)
    return [quantize(rows[k].tolist(), shape.input_scale) for k in range(count)]


def _volatile_prices(count: int) -> list[int]:
    """A seeded random walk with 3 % steps, in the pool's unit (1e-8)."""
    steps = np.random.default_rng(SEED).normal(0.0, 0.03, size=count)
    return [int(2_000 * 10**8 * float(np.exp(total))) for total in np.cumsum(steps)]


def deploy_ltv(chain: Chain, workdir: Path, market: Contract, fee: Circuit, model_id: int) -> Contract:
    artifact = market_artifact(workdir, "LoanToValueOracle")
    scales = fee.info.input_scales[0], fee.info.output_scales[0]
    deployed = deploy(
        chain, artifact, market.address, model_id, *scales, CALLBACK_GAS, LTV_POLICY, LTV_POLICY[1], chain.address
    )
    return contract_at(chain, deployed.address, artifact["abi"])


def run_market_demo(workdir: Path, reporter: Reporter) -> DemoReport:
    digits, fee = build_circuits(workdir, reporter)
    with connect(None, log_dir=workdir) as chain:
        assert chain.node is not None
        keys = [account.private_key for account in chain.node.dev_accounts()[1:5]]
        with timed_stage(reporter, "deploy", "registry, market, test stablecoin") as outcome:
            registry = open_registry(chain, workdir, deploy_if_missing=True)
            market = deploy_market(chain, workdir, registry.address)
            token = deploy_test_token(chain, workdir)
            outcome.detail = f"market {market.address}"
        models: dict[str, int] = {}
        with timed_stage(reporter, "offer", "digits (batch 4) and fee") as outcome:
            for circuit in (digits, fee):
                registration = register(chain, registry, circuit)
                models[circuit.name] = registration.model_id
                set_offer(
                    chain, market, registration.model_id, registration.version, shape_of(circuit),
                    token=token.address, payee=chain.address, price=PRICES[circuit.name], lock_stake=0,
                    lock_window=300,
                )  # fmt: skip
            outcome.detail = ", ".join(f"{name} model {model}" for name, model in models.items())
        with timed_stage(reporter, "request", "3 digit images, 1 forecast, 1 left to expire"):
            requests = _make_requests(chain, workdir, market, token, digits, fee, models, keys)
        ltv_before = int(call(chain, requests["ltv"], "ltvBps"))
        late = requests["late"]
        advance_time(chain.w3, 120)  # past the late request's deadline, well before the others'
        metrics = KeeperMetrics()
        with (
            timed_stage(reporter, "serve", "one keeper pass: lock, prove each batch, fulfil"),
            keeper_for(
                chain, workdir, market, [DIGITS, FEE], config=ServeConfig(once=True, max_wait_s=0), metrics=metrics
            ) as keeper,
        ):
            keeper.run()
        ltv_after = int(call(chain, requests["ltv"], "ltvBps"))
        with timed_stage(reporter, "settle", "refund the late request, withdraw the revenue"):
            refund = transact(chain.signed_by(keys[3]), market, "refund", late)
            refunded, _ = withdraw_credit(chain.signed_by(keys[3]), market, token.address)
            revenue, _ = withdraw_credit(chain, market, token.address)
        circuits = {models[DIGITS]: digits, models[FEE]: fee}
        rows = [_row(chain, market, rid, label, circuits) for rid, label in requests["ids"]]
    facts = [
        f"loan-to-value moved {ltv_before / 100:.0f} % -> {ltv_after / 100:.0f} % in the forecast's callback "
        f"(bounds {LTV_POLICY[0] / 100:.0f}-{LTV_POLICY[1] / 100:.0f} %, "
        f"at most {LTV_POLICY[2] / 100:.0f} points a step)",
        f"request {late} passed its deadline unfulfilled: refunded {refunded / UNIT:.2f} tUSD "
        f"(refund gas {int(refund['gasUsed']):,})",
        f"the models' owner withdrew {revenue / UNIT:.2f} tUSD; the market still holds what it owes, nothing more",
        f"keeper gas per inference settled: {metrics.gas_per_inference() or 0:,.0f}",
    ]
    document: dict[str, Any] = {"requests": rows, "ltv_before_bps": ltv_before, "ltv_after_bps": ltv_after}
    document |= {"refunded": refunded, "revenue": revenue}
    columns = ["request", "model", "asked by", "output", "settled", "gas/inference", "paid", "prover", "owner"]
    fields = ("id", "model", "by", "output", "settled", "gas", "paid", "prover", "owner")
    table = [[str(row[field]) for field in fields] for row in rows]
    title = "The inference market on an embedded anvil (amounts in tUSD)"
    return DemoReport(title, columns, table, facts, document)


def _make_requests(
    chain: Chain,
    workdir: Path,
    market: Contract,
    token: Contract,
    digits: Circuit,
    fee: Circuit,
    models: dict[str, int],
    keys: list[str],
) -> dict[str, Any]:
    ids: list[tuple[int, str]] = []
    shape = shape_of(digits)
    for index, image in enumerate(_heldout_images(digits, shape, 3)):
        requester = chain.signed_by(keys[index])
        mint(chain, token, requester.address, 10 * UNIT)
        made = request_inference(requester, market, token, models[DIGITS], image, prover_fee=PROVER_FEE)
        ids.append((made.request_id, f"acct {index + 1}"))
    ltv = deploy_ltv(chain, workdir, market, fee, models[FEE])
    mint(chain, token, ltv.address, 10 * UNIT)
    for price in _volatile_prices(9):
        transact(chain, ltv, "recordPrice", price)
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    receipt = transact(chain, ltv, "requestForecast", now + 600, PROVER_FEE)
    forecast = int(ltv.events.ForecastRequested().process_receipt(receipt, errors=DISCARD)[0]["args"]["requestId"])
    ids.append((forecast, "LTV oracle"))
    late_requester = chain.signed_by(keys[3])
    mint(chain, token, late_requester.address, 10 * UNIT)
    image = _heldout_images(digits, shape, 4)[3]
    late = request_inference(late_requester, market, token, models[DIGITS], image, prover_fee=PROVER_FEE, ttl_s=60)
    ids.append((late.request_id, "acct 4, 60 s"))
    return {"ids": ids, "ltv": ltv, "late": late.request_id}


def _row(
    chain: Chain, market: Contract, request_id: int, asked_by: str, circuits: dict[int, Circuit]
) -> dict[str, Any]:
    """One line of the table, read from the chain: the request, its result, who got what."""
    view: RequestView = read_request(chain, market, request_id)
    status, outputs = read_result(chain, market, request_id)
    circuit = circuits[view.model_id]
    name = circuit.name
    values = dequantize(outputs, circuit.info.output_scales[0])
    fulfilled = status.name == "FULFILLED"
    if not fulfilled:
        output = status.name.lower()
    elif name == DIGITS:
        output = f"digit {int(np.argmax(values))}"
    else:
        output = f"vol {values[0]:.2f} %"
    gas, settled = "-", "-"
    if fulfilled:
        logs = market.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": request_id})
        receipt = chain.w3.eth.get_transaction_receipt(logs[-1]["transactionHash"])
        count = len(market.events.Fulfilled().process_receipt(receipt, errors=DISCARD))
        gas, settled = f"{int(receipt['gasUsed']) // count:,}", f"{count} per proof"
    paid = view.owner_amount + view.protocol_amount + view.prover_fee
    return {
        "id": request_id,
        "model": name.removesuffix(f"_b{DIGITS_BATCH}"),
        "by": asked_by,
        "output": output,
        "settled": settled,
        "gas": gas,
        "paid": f"{paid / UNIT:.2f}",
        "prover": f"{view.prover_fee / UNIT:.2f}" if fulfilled else "0",
        "owner": f"{view.owner_amount / UNIT:.2f}" if fulfilled else "0",
    }
