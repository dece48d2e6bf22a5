"""What a restarted keeper must do next, read off the outbox alone.

A crash can stop the keeper between any two steps: after a lock was sent but before it was
confirmed, after a proof was made but before it was sent, after a fulfilment was mined but
before the request was marked. `plan` turns each unfinished request, together with the state
of its latest lock or fulfil transaction, into one `NextStep`, so the loop that resumes never
has to guess and never repeats a step that already happened on chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from prover.keeper.records import RequestRow, RequestState, TxRow, TxState


class NextStep(StrEnum):
    DECIDE = "decide"  # seen: lock it, or skip it
    AWAIT = "await"  # its transaction is still open: `Sender.resume` settles it, then plan again
    CONFIRM = "confirm"  # its transaction was mined: move to locked / fulfilled
    RETRY = "retry"  # its transaction reverted, was replaced or dropped, or was never recorded
    PROVE = "prove"  # locked, or proving when the keeper stopped: make the proof (again)
    FULFIL = "fulfil"  # proved: send the fulfilment
    EXPIRE = "expire"  # past its deadline with nothing in flight: mark it expired


@dataclass(frozen=True)
class Resumable:
    """One unfinished request, its next step, and the transaction that step depends on."""

    request: RequestRow
    step: NextStep
    tx: TxRow | None


@dataclass(frozen=True)
class PendingWork:
    """Open transactions first (they hold nonces and may already be on chain), then requests."""

    transactions: list[TxRow]
    requests: list[Resumable]

    def by_step(self, step: NextStep) -> list[Resumable]:
        return [item for item in self.requests if item.step is step]

    @property
    def empty(self) -> bool:
        return not self.transactions and not self.requests


_IN_FLIGHT = {RequestState.LOCKING: "lock_tx", RequestState.FULFILLING: "fulfil_tx"}


def _step(row: RequestRow, tx: TxRow | None, now: int | None) -> NextStep:
    late = now is not None and now > row.request.deadline
    if row.state in _IN_FLIGHT:
        if tx is not None and tx.is_open:
            return NextStep.AWAIT  # whatever the clock says: it may still land in time
        if tx is not None and tx.state is TxState.MINED:
            return NextStep.CONFIRM
        return NextStep.EXPIRE if late else NextStep.RETRY
    if late:
        return NextStep.EXPIRE
    if row.state is RequestState.SEEN:
        return NextStep.DECIDE
    if row.state in (RequestState.LOCKED, RequestState.PROVING):
        return NextStep.PROVE
    if row.state is RequestState.PROVED:
        return NextStep.FULFIL
    raise ValueError(f"request {row.request_id} is {row.state}: nothing to resume")


def plan(unfinished: Sequence[RequestRow], txs: Mapping[int, TxRow], now: int | None = None) -> PendingWork:
    """The next step of every unfinished request (in request id order) and the open
    transactions, from the rows alone: nothing here talks to the chain."""
    items = []
    for row in unfinished:
        column = _IN_FLIGHT.get(row.state)
        tx_id = getattr(row, column) if column is not None else None
        tx = txs.get(tx_id) if tx_id is not None else None
        items.append(Resumable(row, _step(row, tx, now), tx))
    open_txs = [tx for tx in sorted(txs.values(), key=lambda t: t.id) if tx.is_open]
    return PendingWork(open_txs, items)
