"""What the keeper asks the node, and how it reads the answers: EIP-1559 fees and their bumps,
the block it may trust, receipts by hash, and the node's reasons for refusing a transaction.

Nodes word their refusals differently (geth "already known", anvil "transaction already
imported"; geth "replacement transaction underpriced", anvil "max fee per gas less than block
base fee"), and the sender must act on the meaning, not the wording: `classify_refusal` maps
the known phrasings onto the few cases the sender treats differently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum

from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from prover.errors import ChainError
from prover.keeper.records import Fees

#: a replacement must raise both fees by at least this much (geth's pool asks for 10 %)
MIN_BUMP_PERMILLE = 125


def safe_block(w3: Web3, confirmations: int) -> int:
    """The newest block with `confirmations` blocks on top of it: the keeper reads logs and
    state there, so a shallow reorg cannot show it a request that then vanishes."""
    if confirmations < 0:
        raise ValueError("confirmations cannot be negative")
    return max(0, int(w3.eth.block_number) - confirmations)


def market_fees(w3: Web3, priority_fee: int | None = None) -> Fees:
    """Fees that get a transaction into the next blocks: twice the latest base fee (room for
    six full blocks of 12.5 % rises) plus the tip, `priority_fee` or the node's suggestion."""
    base = w3.eth.get_block("latest").get("baseFeePerGas")
    if base is None:
        raise ChainError(
            "the chain's blocks have no base fee: the keeper sends EIP-1559 transactions only",
            hint="use a node of a chain past the London fork",
        )
    tip = int(w3.eth.max_priority_fee) if priority_fee is None else priority_fee
    return Fees(max_fee=2 * int(base) + tip, tip=tip)


def _raised(value: int, permille: int) -> int:
    """`value` raised by `permille`, rounded up, and by at least 1 wei (0 -> 1)."""
    return max(-(-value * (1000 + permille) // 1000), value + 1)


def bumped_fees(previous: Fees, market: Fees, permille: int = MIN_BUMP_PERMILLE, cap: int | None = None) -> Fees | None:
    """The fees of a replacement: each of `previous` raised by `permille`, or the market's when
    higher. None when `cap` (the most the keeper may pay per gas) leaves no room for a bump a
    node would accept: the transaction is then stuck at the price the keeper allows."""
    if permille < MIN_BUMP_PERMILLE:
        raise ValueError(f"a fee bump must be at least {MIN_BUMP_PERMILLE / 10:g} %")
    tip = max(_raised(previous.tip, permille), market.tip)
    max_fee = max(_raised(previous.max_fee, permille), market.max_fee, tip)
    if cap is not None and max_fee > cap:
        max_fee = cap
        if max_fee < _raised(previous.max_fee, permille) or tip > max_fee:
            return None
    return Fees(max_fee=max_fee, tip=tip)


def capped(fees: Fees, cap: int | None) -> Fees:
    """First fees under the keeper's cap (the tip never above the max fee)."""
    if cap is None or fees.max_fee <= cap:
        return fees
    return Fees(max_fee=cap, tip=min(fees.tip, cap))


def receipt_of(w3: Web3, tx_hash: str) -> TxReceipt | None:
    """The receipt of `tx_hash`, None while it is pending or unknown to the node."""
    with contextlib.suppress(TransactionNotFound):
        return w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    return None


def known_to_node(w3: Web3, tx_hash: str) -> bool:
    """Whether the node holds `tx_hash` (pending in its pool, or mined)."""
    try:
        w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return False
    return True


class Refusal(Enum):
    """Why a node refused a raw transaction, as far as the sender cares."""

    KNOWN = "known"  # it already holds these very bytes: as good as sent
    NONCE_TAKEN = "nonce taken"  # the nonce was mined already (by us or another process)
    NONCE_PENDING = "nonce pending"  # another transaction with this nonce waits in the pool, at no lower fees
    FEE_TOO_LOW = "fee too low"  # below the base fee or the pool's minimum: price it again
    OTHER = "other"  # insufficient funds, gas limits, a malformed transaction: will not change by waiting


_PHRASES = (
    (Refusal.KNOWN, ("already known", "already imported", "known transaction", "alreadyknown")),
    (Refusal.NONCE_TAKEN, ("nonce too low", "nonce has already been used", "oldnonce")),
    (Refusal.NONCE_PENDING, ("replacement transaction underpriced", "replacement underpriced")),
    (
        Refusal.FEE_TOO_LOW,
        ("less than block base fee", "fee cap less than", "max fee per gas less than", "underpriced", "fee too low"),
    ),
)


def classify_refusal(message: str) -> Refusal:
    text = message.lower()
    for refusal, phrases in _PHRASES:
        if any(phrase in text for phrase in phrases):
            return refusal
    return Refusal.OTHER


@dataclass(frozen=True)
class Broadcast:
    """The outcome of handing raw bytes to the node: accepted, or refused and why."""

    refusal: Refusal | None
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.refusal is None or self.refusal is Refusal.KNOWN
