"""The market as the CLI's users see it: circuits by name, amounts in token units, one
report per action. Each function resolves names to on-chain ids through the workdir's
records (the model a circuit was registered as, its active version, the market deployed
here), then calls `operations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from web3 import Web3
from web3.contract import Contract

from prover.datasets import load_single_input
from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call
from prover.market.contract import (
    RequestStatus,
    RequestView,
    from_units,
    open_market,
    read_offer,
    read_request,
    read_result,
    to_units,
    token_contract,
    token_decimals,
)
from prover.market.operations import Sent, request_inference, set_offer
from prover.market.shape import Shape, dequantize, request_inputs, shape_of
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import model_record, open_registry
from prover.registry.versions import active_version_for


def registered_model(chain: Chain, workdir: Path, circuit: Circuit) -> tuple[int, int]:
    """(model id, version) this workdir registered `circuit` as, still active on chain."""
    entry = model_record(chain, workdir, circuit.name)
    if entry is None:
        raise ChainError(
            f"circuit {circuit.name!r} is not registered on chain {chain.chain_id}",
            hint=f"prover register {circuit.name}",
        )
    registry = open_registry(chain, workdir, entry["registry"])
    model_id = int(entry["model_id"])
    version, _verifier = active_version_for(chain, registry, model_id, circuit)
    return model_id, version


@dataclass(frozen=True)
class OfferReport:
    circuit: str
    model_id: int
    version: int
    shape: Shape
    token: str
    price: str
    lock_stake: str
    lock_window_s: int
    payee: str
    transactions: list[Sent] = field(default_factory=list)

    def summary(self) -> list[tuple[str, str]]:
        shape = self.shape
        return [
            ("model", f"{self.model_id} ({self.circuit}), version {self.version} serves new requests"),
            (
                "circuit",
                f"batch {shape.batch_size}, {shape.inputs_per_inference} inputs and "
                f"{shape.outputs_per_inference} outputs per inference",
            ),
            ("price", f"{self.price} per inference (token {self.token}) to {self.payee}"),
            ("lock", f"stake {self.lock_stake} per request, {self.lock_window_s} s"),
            ("gas", ", ".join(f"{sent.gas_used:,}" for sent in self.transactions)),
        ]


def offer(
    chain: Chain,
    workdir: Path,
    market: Contract,
    circuit_name: str,
    *,
    token: str,
    price: str,
    payee: str | None,
    lock_stake: str,
    lock_window_s: int,
) -> OfferReport:
    """Offer circuit `circuit_name`'s model for sale, served by its registered version."""
    circuit = open_circuit(circuit_name, workdir)
    shape = shape_of(circuit)
    model_id, version = registered_model(chain, workdir, circuit)
    erc20 = token_contract(chain, workdir, token)
    decimals = token_decimals(chain, erc20)
    payee = Web3.to_checksum_address(payee) if payee else chain.address
    sent = set_offer(
        chain,
        market,
        model_id,
        version,
        shape,
        token=erc20.address,
        payee=payee,
        price=to_units(price, decimals),
        lock_stake=to_units(lock_stake, decimals),
        lock_window=lock_window_s,
    )
    return OfferReport(
        circuit.name, model_id, version, shape, erc20.address, price, lock_stake, lock_window_s, payee, sent
    )


def read_input_values(circuit: Circuit, path: Path) -> list[float]:
    """One inference's values from an ezkl input file: for a batch-N circuit, a file for
    one row of its input (what `prover example` writes for the batch-1 model), checked
    like `prove` checks a whole sample (finite, of the right type, in range)."""
    batch = circuit.manifest.batch
    shapes = [[1, *shape[1:]] if batch > 1 else shape for shape in circuit.info.input_shapes]
    sample = load_single_input(path, shapes)
    values = [float(value) for tensor in sample for value in tensor.reshape(-1)]
    padded = [np.asarray(values * batch, dtype=np.float64).reshape(1, *circuit.info.input_shapes[0])]
    circuit.check_sample(padded if batch > 1 else sample, str(path))
    return values


@dataclass(frozen=True)
class RequestReport:
    request_id: int
    model_id: int
    circuit: str
    escrow: str
    deadline: int
    sent: Sent
    approval: Sent | None

    def summary(self) -> list[tuple[str, str]]:
        rows = [
            ("request", str(self.request_id)),
            ("model", f"{self.model_id} ({self.circuit})"),
            ("escrow", self.escrow),
            ("deadline", str(self.deadline)),
            ("tx", f"{self.sent.tx_hash} (gas {self.sent.gas_used:,})"),
        ]
        if self.approval is not None:
            rows.append(("approval", f"{self.approval.tx_hash} (gas {self.approval.gas_used:,})"))
        return rows


def request(
    chain: Chain,
    workdir: Path,
    market: Contract,
    circuit_name: str,
    input_file: Path,
    *,
    model_id: int | None,
    prover_fee: str,
    ttl_s: int,
) -> RequestReport:
    """Request one inference of circuit `circuit_name`'s model on the values in `input_file`,
    quantised at the circuit's input scale exactly as its prover will."""
    circuit = open_circuit(circuit_name, workdir)
    shape = shape_of(circuit)
    if model_id is None:
        model_id, _version = registered_model(chain, workdir, circuit)
    offer_now = read_offer(chain, market, model_id)
    if not offer_now.open:
        raise ChainError(
            f"model {model_id} has no open offer on market {market.address}",
            hint=f"its owner runs `prover market offer {circuit.name} --token T --price P`",
        )
    erc20 = token_contract(chain, workdir, offer_now.token)
    decimals = token_decimals(chain, erc20)
    inputs = request_inputs(shape, read_input_values(circuit, input_file))
    made = request_inference(
        chain, market, erc20, model_id, inputs, prover_fee=to_units(prover_fee, decimals), ttl_s=ttl_s
    )
    escrow = f"{from_units(made.escrow, decimals)} (price + prover fee)"
    return RequestReport(made.request_id, model_id, circuit.name, escrow, made.deadline, made.sent, made.approval)


@dataclass(frozen=True)
class ResultReport:
    request: RequestView
    status: RequestStatus
    outputs: list[int]
    output_scale: int | None
    tx_hash: str | None
    now: int  # the chain's time when read: an open request past its deadline is expired

    @property
    def state(self) -> str:
        """fulfilled, refunded, open, or expired (open past its deadline: only a refund is left)."""
        if self.status is RequestStatus.OPEN and self.now > self.request.deadline:
            return "expired"
        return self.status.name.lower()

    def values(self) -> list[float] | None:
        if self.output_scale is None:
            return None
        return dequantize(self.outputs, self.output_scale)

    def document(self) -> dict[str, Any]:
        return {
            "request_id": self.request.request_id,
            "model_id": self.request.model_id,
            "version": self.request.version,
            "status": self.state,
            "outputs_fixed": self.outputs,
            "outputs": self.values(),
            "output_scale": self.output_scale,
            "tx_hash": self.tx_hash,
        }


def settlement_tx(chain: Chain, market: Contract, request_id: int, status: RequestStatus) -> str | None:
    """The transaction that fulfilled or refunded the request, from its event."""
    event = {RequestStatus.FULFILLED: "Fulfilled", RequestStatus.REFUNDED: "Refunded"}.get(status)
    if event is None:
        return None
    logs = market.events[event]().get_logs(from_block=0, argument_filters={"requestId": request_id})
    return logs[-1]["transactionHash"].to_0x_hex() if logs else None


def output_scale_for(chain: Chain, workdir: Path, model_id: int, circuits: Sequence[str]) -> int | None:
    """The output scale of a local circuit registered as `model_id`, if there is one."""
    for name in circuits:
        entry = model_record(chain, workdir, name)
        if entry is not None and int(entry["model_id"]) == model_id:
            return int(open_circuit(name, workdir).info.output_scales[0])
    return None


def check_request_id(chain: Chain, market: Contract, request_id: int) -> None:
    """A one-line error for an id the market never handed out."""
    count = int(call(chain, market, "requestCount"))
    if not 1 <= request_id <= count:
        raise ProverError(
            f"market {market.address} has no request {request_id} (it has {count})",
            hint="`prover market status` lists the requests",
        )


def result(chain: Chain, workdir: Path, market: Contract, request_id: int, circuits: Sequence[str]) -> ResultReport:
    check_request_id(chain, market, request_id)
    view = read_request(chain, market, request_id)
    status, outputs = read_result(chain, market, request_id)
    scale = output_scale_for(chain, workdir, view.model_id, circuits)
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    return ResultReport(view, status, outputs, scale, settlement_tx(chain, market, request_id, status), now)


__all__ = ["offer", "open_market", "registered_model", "request", "result"]
