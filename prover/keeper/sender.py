"""Transactions of one key, sent so that a crash or a restart never sends one twice or loses it.

Every send is simulated first (a revert is refused by its custom error's name before anything
is signed), then priced (EIP-1559), given the next nonce, signed, recorded in the outbox and
only then broadcast: the write-ahead rule. A crash at any point leaves in the outbox either
nothing, or the exact bytes and hash that may or may not have reached the node; `resume()`
then asks the chain instead of guessing:

- a receipt for any attempt's hash -> record it (mined or reverted);
- the node still holds an attempt -> keep waiting, bumping fees on schedule;
- the nonce was consumed by some other transaction -> replaced, never rebroadcast;
- unknown and the nonce still free -> broadcast the recorded bytes again (the same hash).

A transaction not mined within `replace_after` seconds is signed again with the same nonce and
fees raised by at least 12.5 % (each attempt recorded before it goes out), at most
`max_bumps` times; then it is reported stuck, left open, and resumed on the next start.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3Exception, Web3RPCError
from web3.types import TxReceipt

from prover.errors import ChainError, TransactionReverted, first_line
from prover.evm.client import GAS_MARGIN, Chain, _guarded
from prover.keeper.fees import (
    MIN_BUMP_PERMILLE,
    Broadcast,
    Refusal,
    bumped_fees,
    capped,
    classify_refusal,
    known_to_node,
    market_fees,
    receipt_of,
    safe_block,
)
from prover.keeper.nonces import NonceAllocator
from prover.keeper.outbox import Outbox
from prover.keeper.records import OPEN_TX, Fees, TxRow, TxState, UnsignedTx
from prover.progress import Reporter

#: how often one send re-signs after the node said its nonce is taken, before giving up
MAX_RESYNCS = 3
GWEI = 10**9
#: what a first broadcast's refusal makes of its row: its nonce went to another, or it was given up
_NEVER_SENT = {
    Refusal.NONCE_TAKEN: TxState.REPLACED,
    Refusal.NONCE_PENDING: TxState.REPLACED,
    Refusal.FEE_TOO_LOW: TxState.DROPPED,
    Refusal.OTHER: TxState.DROPPED,
    None: TxState.DROPPED,
    Refusal.KNOWN: TxState.DROPPED,
}


@dataclass(frozen=True)
class SenderConfig:
    """How patient and how generous the sender is; one object for flags and config files."""

    replace_after: float = 60.0  # seconds without a receipt before the fees are bumped
    max_bumps: int = 3  # replacements before the transaction is reported stuck
    bump_permille: int = MIN_BUMP_PERMILLE  # each bump raises both fees by at least this
    poll_interval: float = 1.0  # seconds between receipt checks
    priority_fee: int | None = None  # tip in wei; None asks the node
    max_fee_cap: int | None = None  # never sign a max fee per gas above this (wei)
    gas_margin: float = GAS_MARGIN  # estimate x margin, so a small state change does not run out
    confirmations: int = 0  # blocks on top of the one the keeper reads (see `safe_block`)

    def __post_init__(self) -> None:
        if not (self.replace_after > 0 and self.poll_interval > 0 and self.gas_margin >= 1):
            raise ChainError("replace_after and poll_interval must be positive and gas_margin at least 1")
        if self.max_bumps < 0 or self.confirmations < 0:
            raise ChainError("max_bumps and confirmations cannot be negative")
        if self.bump_permille < MIN_BUMP_PERMILLE:
            raise ChainError(f"a fee bump must be at least {MIN_BUMP_PERMILLE} permille (nodes refuse smaller ones)")


class StuckTransaction(ChainError):
    """Not mined after every allowed fee bump (or at the fee cap). It stays open in the outbox:
    it still holds its nonce, and `resume()` picks it up again."""

    default_hint = "raise the fee cap or the number of bumps, or wait: the keeper resumes it when restarted"

    def __init__(self, message: str, tx: TxRow) -> None:
        super().__init__(message)
        self.tx = tx


class TransactionReplaced(ChainError):
    """The transaction's nonce was consumed by another transaction (the key was used
    elsewhere): it can never be mined, and is recorded as replaced."""

    default_hint = "a key should serve one keeper only; whatever this transaction did must be decided again"

    def __init__(self, message: str, tx: TxRow) -> None:
        super().__init__(message)
        self.tx = tx


def _gwei(wei: int) -> str:
    return f"{wei / GWEI:.3f} gwei"


class Sender:
    """Sends `account`'s transactions through `outbox`; thread-safe. Call `resume()` once
    after opening, before new sends, so a crashed run's transactions are settled first."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        outbox: Outbox,
        *,
        chain_id: int,
        abi: Sequence[Any] = (),
        config: SenderConfig | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.outbox = outbox
        self.chain_id = chain_id
        self.abi = list(abi)  # custom errors named in reverts (the market's ABI)
        self.config = config or SenderConfig()
        self.reporter = reporter or Reporter()
        self.address = account.address
        self.nonces = NonceAllocator(w3, self.address, lambda: outbox.next_nonce(self.address))

    @classmethod
    def on(
        cls,
        chain: Chain,
        outbox: Outbox,
        abi: Sequence[Any] = (),
        config: SenderConfig | None = None,
        reporter: Reporter | None = None,
    ) -> Sender:
        """A sender for `chain`'s signing account (ChainError by name if it has none)."""
        return cls(chain.w3, chain.signer, outbox, chain_id=chain.chain_id, abi=abi, config=config, reporter=reporter)

    def safe_block(self) -> int:
        return safe_block(self.w3, self.config.confirmations)

    # --- sending ----------------------------------------------------------------------------

    def send(
        self,
        kind: str,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        *,
        request_ids: Sequence[int] = (),
        gas: int | None = None,
    ) -> TxRow:
        """`submit`, then `wait`: the mined transaction's row, or TransactionReverted by name."""
        return self.wait(self.submit(kind, to, data, value, request_ids=request_ids, gas=gas).id)

    def submit(
        self,
        kind: str,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        *,
        request_ids: Sequence[int] = (),
        gas: int | None = None,
    ) -> TxRow:
        """Simulate, price, sign, record, broadcast; returns the SENT row without waiting.

        `kind` names the action in errors and links the transaction to `request_ids` in the
        outbox ("lock", "fulfil"). A simulated revert raises TransactionReverted and records
        nothing. If the node's answer is lost (it went away mid-call), the row stays SIGNED
        and ChainError is raised: `resume()` finds out what happened."""
        to = Web3.to_checksum_address(to)
        payload = bytes(HexBytes(data))
        call: Any = {"from": self.address, "to": to, "data": payload, "value": value}
        _guarded(kind, self.abi, lambda: self.w3.eth.call(call, "latest"))
        if gas is None:
            estimate = _guarded(kind, self.abi, lambda: self.w3.eth.estimate_gas(call))
            limit = int(self.w3.eth.get_block("latest")["gasLimit"])
            gas = min(math.ceil(estimate * self.config.gas_margin), limit)
        fees = capped(market_fees(self.w3, self.config.priority_fee), self.config.max_fee_cap)
        with self.nonces.hold() as slot:
            for _ in range(MAX_RESYNCS):
                tx = UnsignedTx(kind, tuple(request_ids), self.address, slot.nonce, to, value, payload, gas)
                row = self.outbox.record_transaction(tx, *self._sign(tx, fees), fees)
                try:
                    result = self._broadcast(row)
                except ChainError:
                    slot.use()  # the node may hold it: no other transaction may take this nonce
                    raise
                if result.accepted:
                    slot.use()
                    return self.outbox.mark_sent(row.id)
                self.outbox.settle(row.id, _NEVER_SENT[result.refusal], error=f"never sent: {result.message}")
                if result.refusal in (Refusal.NONCE_TAKEN, Refusal.NONCE_PENDING):
                    # another process used the key: this nonce is not ours any more
                    self.reporter.note(f"{kind}: nonce {tx.nonce} is taken ({result.message}); nonces read again")
                    slot.resync()
                    continue
                fresh = capped(market_fees(self.w3, self.config.priority_fee), self.config.max_fee_cap)
                if result.refusal is Refusal.FEE_TOO_LOW and fresh.max_fee > fees.max_fee:
                    fees = fresh  # the base fee rose between pricing and sending: once more at its price
                    continue
                raise ChainError(f"{kind} refused by the node: {result.message}")
            raise ChainError(f"{kind}: the node kept refusing the nonce or the price ({MAX_RESYNCS} tries)")

    def _sign(self, tx: UnsignedTx, fees: Fees) -> tuple[str, bytes]:
        signed = self.account.sign_transaction(
            {
                "type": 2,
                "chainId": self.chain_id,
                "nonce": tx.nonce,
                "to": Web3.to_checksum_address(tx.to),
                "value": tx.value,
                "data": tx.data,
                "gas": tx.gas,
                "maxFeePerGas": fees.max_fee,
                "maxPriorityFeePerGas": fees.tip,
            }
        )
        return signed.hash.to_0x_hex(), bytes(signed.raw_transaction)

    def _broadcast(self, row: TxRow) -> Broadcast:
        """Hand the row's latest raw bytes to the node. A refusal is classified; a lost answer
        is ChainError with the row left as it is: the node may or may not have it."""
        try:
            self.w3.eth.send_raw_transaction(row.raw)
        except Web3RPCError as exc:
            message = first_line(exc)
            return Broadcast(classify_refusal(message), message)
        except (Web3Exception, requests.RequestException, OSError, ValueError) as exc:
            raise ChainError(
                f"{row.kind}: no answer while broadcasting {row.tx_hash} ({first_line(exc)})",
                hint="it is recorded: the keeper looks it up on chain when it resumes",
            ) from None
        return Broadcast(None)

    # --- waiting, bumping -------------------------------------------------------------------

    def wait(self, tx_id: int) -> TxRow:
        """Until the transaction is mined: its MINED row. Raises TransactionReverted (recorded
        as REVERTED, named by replaying the call), TransactionReplaced, or StuckTransaction
        after `max_bumps` bumps. A row already final is returned as it is."""
        row = self.outbox.transaction(tx_id)
        next_bump = time.monotonic() + self.config.replace_after
        while row.is_open:
            settled = self._check(row)
            if settled is not None:
                return settled
            if time.monotonic() >= next_bump:
                row = self._bump(row)
                next_bump = time.monotonic() + self.config.replace_after
            time.sleep(self.config.poll_interval)
        return row

    def _check(self, row: TxRow) -> TxRow | None:
        """The settled row if any attempt has a receipt; TransactionReplaced if the nonce was
        consumed by a transaction that is none of them; None while it may still be mined."""
        consumed = int(self.w3.eth.get_transaction_count(self.address, "latest")) > row.nonce  # before the receipts
        for attempt in reversed(self.outbox.attempts(row.id)):
            receipt = receipt_of(self.w3, attempt.tx_hash)
            if receipt is not None:
                return self._settle(row, attempt.tx_hash, receipt)
        if not consumed:
            return None
        if any(known_to_node(self.w3, attempt.tx_hash) for attempt in self.outbox.attempts(row.id)):
            # the node counted the nonce before its receipt could be read (seen on anvil under
            # load): one of ours holds it, so the next poll finds the receipt
            return None
        message = f"{row.kind}: nonce {row.nonce} was used by another transaction; none of {row.attempts} attempts"
        replaced = self.outbox.settle(row.id, TxState.REPLACED, error=message)
        self.reporter.warn(message)
        raise TransactionReplaced(message, replaced)

    def _settle(self, row: TxRow, tx_hash: str, receipt: TxReceipt) -> TxRow:
        block, gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        if receipt["status"] == 1:
            return self.outbox.settle(row.id, TxState.MINED, tx_hash=tx_hash, block=block, gas_used=gas_used)
        reason = self._revert_reason(row, block)
        self.outbox.settle(row.id, TxState.REVERTED, tx_hash=tx_hash, block=block, gas_used=gas_used, error=str(reason))
        raise reason

    def _revert_reason(self, row: TxRow, block: int) -> TransactionReverted:
        """Mined but reverted: state moved after the simulation (often an earlier transaction
        in the same block), so the call is replayed on that block's final state for its name."""
        call: Any = {"from": self.address, "to": row.tx.to, "data": row.tx.data, "value": row.tx.value}
        try:
            _guarded(row.kind, self.abi, lambda: self.w3.eth.call(call, block))
        except TransactionReverted as exc:
            return exc
        except ChainError:
            pass
        return TransactionReverted(row.kind, None, (), b"")

    def _bump(self, row: TxRow) -> TxRow:
        """Sign the same transaction with higher fees, record it, broadcast it; StuckTransaction
        when the bumps or the fee cap are used up."""
        fees = None
        if row.attempts - 1 < self.config.max_bumps:
            market = market_fees(self.w3, self.config.priority_fee)
            fees = bumped_fees(row.fees, market, self.config.bump_permille, self.config.max_fee_cap)
        if fees is None:
            why = "at the fee cap" if row.attempts - 1 < self.config.max_bumps else f"after {row.attempts - 1} bumps"
            message = (
                f"{row.kind} transaction {row.id} (nonce {row.nonce}) is not mined {why}: "
                f"{row.tx_hash} at max fee {_gwei(row.fees.max_fee)}"
            )
            self.reporter.warn(message)
            raise StuckTransaction(message, row)
        row = self.outbox.record_attempt(row.id, *self._sign(row.tx, fees), fees)
        result = self._broadcast(row)
        if result.accepted:
            self.reporter.note(f"{row.kind} nonce {row.nonce}: attempt {row.attempts} at {_gwei(fees.max_fee)}")
            return self.outbox.mark_sent(row.id)
        # NONCE_TAKEN: one of the attempts was mined meanwhile, or another process used the
        # nonce: the next check tells which. Anything else: the earlier attempts may still land.
        if result.refusal is not Refusal.NONCE_TAKEN:
            self.reporter.warn(f"{row.kind} nonce {row.nonce}: replacement refused ({result.message})")
        return row

    # --- after a restart --------------------------------------------------------------------

    def resume(self, wait: bool = True) -> list[TxRow]:
        """Settle every open transaction an earlier run of this key left in the outbox (see the
        module's docstring), in nonce order, and read the nonce count again. With `wait`, the
        ones still pending are waited for (and bumped); a stuck one is reported and left open.
        Returns each one's row as it stands afterwards."""
        rows = sorted(self.outbox.transactions(*OPEN_TX, sender=self.address), key=lambda r: r.nonce)
        checked = [self._recover(row) for row in rows]  # every rebroadcast first, so none waits behind a gap
        results = [self._waited(row) if wait and row.is_open else row for row in checked]
        self.nonces.resync()
        return results

    def _waited(self, row: TxRow) -> TxRow:
        """`wait`, with its outcome left in the outbox rather than raised (already reported)."""
        try:
            return self.wait(row.id)
        except (StuckTransaction, TransactionReverted, TransactionReplaced):
            return self.outbox.transaction(row.id)

    def _recover(self, row: TxRow) -> TxRow:
        """One open row after a restart, without waiting: settled, still pending, or sent again."""
        try:
            settled = self._check(row)
        except (TransactionReverted, TransactionReplaced):
            return self.outbox.transaction(row.id)
        if settled is not None:
            return settled
        if any(known_to_node(self.w3, a.tx_hash) for a in self.outbox.attempts(row.id)):
            return self.outbox.mark_sent(row.id) if row.state is TxState.SIGNED else row
        result = self._broadcast(row)  # the recorded bytes: the same hash as before the crash
        if result.accepted:
            self.reporter.note(f"{row.kind} nonce {row.nonce}: broadcast again after a restart")
            return self.outbox.mark_sent(row.id)
        if result.refusal is Refusal.NONCE_TAKEN:
            try:
                return self._check(row) or row
            except (TransactionReverted, TransactionReplaced):
                return self.outbox.transaction(row.id)
        if result.refusal in (Refusal.FEE_TOO_LOW, Refusal.NONCE_PENDING):
            try:
                return self._bump(row)
            except StuckTransaction:
                return self.outbox.transaction(row.id)
        message = f"{row.kind} nonce {row.nonce}: refused after a restart ({result.message})"
        self.reporter.warn(message)
        return self.outbox.settle(row.id, TxState.DROPPED, error=message)
