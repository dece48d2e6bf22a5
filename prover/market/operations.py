"""What each side does on the market, one function per action: owners offer, requesters
request and refund, provers lock and fulfil, everyone withdraws.

Every function sends at most the transactions its action needs (an ERC-20 approval only
when the allowance is short) and returns what the CLI shows; reverts arrive as
`TransactionReverted` with the market's custom error by name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call, contract_at, transact
from prover.market.contract import ZERO_ADDRESS, read_offer
from prover.market.shape import Shape
from prover.proving.proofs import Proof

#: seconds a request stays fulfillable when the requester names no deadline
DEFAULT_TTL_S = 600


@dataclass(frozen=True)
class Sent:
    """A transaction the market accepted: what the CLI prints and the demo tabulates."""

    tx_hash: str
    gas_used: int
    block: int

    @classmethod
    def of(cls, receipt: TxReceipt) -> Sent:
        return cls(receipt["transactionHash"].to_0x_hex(), int(receipt["gasUsed"]), int(receipt["blockNumber"]))


def _events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    # DISCARD: the token's own Transfer logs in the same receipt are not the market's events
    return [dict(event["args"]) for event in contract.events[name]().process_receipt(receipt, errors=DISCARD)]


def ensure_allowance(chain: Chain, token: Contract, spender: str, amount: int) -> Sent | None:
    """Approve `spender` for `amount` unless the signer's allowance already covers it."""
    if amount == 0 or int(call(chain, token, "allowance", chain.address, spender)) >= amount:
        return None
    return Sent.of(transact(chain, token, "approve", Web3.to_checksum_address(spender), amount))


def set_offer(
    chain: Chain,
    market: Contract,
    model_id: int,
    version: int,
    shape: Shape,
    *,
    token: str,
    payee: str,
    price: int,
    lock_stake: int,
    lock_window: int,
) -> list[Sent]:
    """Open (or change) the model's offer and serve `version` with its circuit's shape.
    A version already serving with this shape is left as it is."""
    sent = [
        Sent.of(
            transact(
                chain,
                market,
                "setOffer",
                model_id,
                Web3.to_checksum_address(token),
                Web3.to_checksum_address(payee),
                price,
                lock_stake,
                lock_window,
            )
        )
    ]
    served, serving = call(chain, market, "shapeOf", model_id, version)
    if serving and tuple(int(x) for x in served) != shape.as_tuple():
        raise ChainError(
            f"version {version} of model {model_id} already serves with shape {tuple(served)}, the circuit has "
            f"{shape.as_tuple()}",
            hint=f"retire it first (`prover market retire --model {model_id} --version {version}`)",
        )
    if not serving or read_offer(chain, market, model_id).version != version:
        sent.append(Sent.of(transact(chain, market, "serveVersion", model_id, version, shape.as_tuple())))
    return sent


@dataclass(frozen=True)
class Requested:
    request_id: int
    escrow: int
    deadline: int
    sent: Sent
    approval: Sent | None


def request_inference(
    chain: Chain,
    market: Contract,
    token: Contract,
    model_id: int,
    inputs: Sequence[int],
    *,
    prover_fee: int = 0,
    ttl_s: int = DEFAULT_TTL_S,
    callback: str = ZERO_ADDRESS,
    callback_gas_limit: int = 0,
) -> Requested:
    """Approve the escrow if needed and request one inference; its id from the event."""
    offer = read_offer(chain, market, model_id)
    if not offer.open:
        raise ChainError(
            f"model {model_id} has no open offer on this market",
            hint="its owner runs `prover market offer NAME --token T --price P --payee ADDR`",
        )
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    deadline = now + ttl_s
    approval = ensure_allowance(chain, token, market.address, offer.price + prover_fee)
    receipt = transact(
        chain,
        _paying_through(chain, market, token),
        "request",
        model_id,
        list(inputs),
        callback,
        callback_gas_limit,
        deadline,
        prover_fee,
    )
    event = _events(market, "Requested", receipt)[0]
    return Requested(int(event["requestId"]), int(event["escrow"]), deadline, Sent.of(receipt), approval)


def lock_requests(chain: Chain, market: Contract, token: Contract, request_ids: Sequence[int], stake: int) -> Sent:
    """Lock requests for the signer, approving the stakes first if needed."""
    ensure_allowance(chain, token, market.address, stake * len(request_ids))
    return Sent.of(transact(chain, _paying_through(chain, market, token), "lock", list(request_ids)))


def _paying_through(chain: Chain, market: Contract, token: Contract) -> Contract:
    """The market with the token's errors in its ABI: a payer short of tokens then reads
    `ERC20InsufficientBalance(...)` by name, which the token reverts with inside the call."""
    abi: list[dict[str, Any]] = [dict(item) for item in market.abi]
    abi += [dict(item) for item in token.abi if item.get("type") == "error"]
    return contract_at(chain, market.address, abi)


def fulfil_requests(chain: Chain, market: Contract, request_ids: Sequence[int], proof: Proof) -> Sent:
    """Settle locked requests with one batch proof (request k in slot k)."""
    return Sent.of(transact(chain, market, "fulfil", list(request_ids), proof.raw, proof.instances))


def refund_request(chain: Chain, market: Contract, request_id: int) -> Sent:
    return Sent.of(transact(chain, market, "refund", request_id))


def withdraw_credit(chain: Chain, market: Contract, token: str) -> tuple[int, Sent]:
    """Pay out the signer's credit in `token`; the amount withdrawn and the transaction."""
    amount = int(call(chain, market, "creditOf", chain.address, Web3.to_checksum_address(token)))
    if amount == 0:
        raise ProverError(
            f"{chain.address} has no credit in token {token} on this market",
            hint="`prover market status` shows what the market holds; credits come from fulfilments and refunds",
        )
    receipt = transact(chain, market, "withdraw", Web3.to_checksum_address(token))
    return amount, Sent.of(receipt)


def wait_for_settlement(
    chain: Chain, market: Contract, request_id: int, timeout_s: float | None, poll_s: float = 0.5
) -> None:
    """Poll until the request is fulfilled or refunded, its deadline has passed on chain
    (expired: only a refund is left), or `timeout_s` seconds have gone (None: no limit)."""
    stop = None if timeout_s is None else time.monotonic() + timeout_s
    deadline = int(call(chain, market, "getRequest", request_id)[4])
    while True:
        status = int(call(chain, market, "resultOf", request_id)[0])
        now = int(chain.w3.eth.get_block("latest")["timestamp"])
        if status >= 2 or now > deadline or (stop is not None and time.monotonic() >= stop):
            return
        time.sleep(poll_s)
