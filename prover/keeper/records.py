"""What the keeper's outbox records: the states of a request and of a transaction, the moves
between them that are legal, the rows as typed values, and the errors of the outbox.

The transition tables are the keeper's safety argument in one place: a request that reached a
final state (fulfilled, refunded, expired, failed, skipped) never moves again, so no code path
can lock or fulfil it a second time; a transaction that reached a final state (mined,
reverted, replaced, dropped) is never broadcast again. Every write goes through
`check_request_move` / `check_tx_move`, which refuse anything else by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from prover.errors import ProverError


class RequestState(StrEnum):
    """Where the keeper stands on one market request (not the market's own status)."""

    SEEN = "seen"  # read from the logs; nothing decided yet
    LOCKING = "locking"  # a lock transaction is on its way (or about to be)
    LOCKED = "locked"  # our lock is on chain
    PROVING = "proving"  # a proof is being made
    PROVED = "proved"  # the proof exists; not yet sent
    FULFILLING = "fulfilling"  # a fulfil transaction is on its way
    FULFILLED = "fulfilled"
    REFUNDED = "refunded"  # the requester took the escrow back
    EXPIRED = "expired"  # the deadline passed before we fulfilled
    FAILED = "failed"  # we gave up (proving failed, a transaction kept reverting)
    SKIPPED = "skipped"  # we chose not to serve it, or another prover holds it


class TxState(StrEnum):
    """Where one of our transactions stands, written before and after each step on the wire."""

    SIGNED = "signed"  # recorded, maybe not yet broadcast: look the hash up before sending again
    SENT = "sent"  # the node accepted one of its attempts
    MINED = "mined"  # included with status 1
    REVERTED = "reverted"  # included with status 0
    REPLACED = "replaced"  # its nonce was consumed by a transaction that is none of its attempts
    DROPPED = "dropped"  # the node refused it for good and its nonce was released


_TERMINAL_REQUEST = {
    RequestState.FULFILLED,
    RequestState.REFUNDED,
    RequestState.EXPIRED,
    RequestState.FAILED,
    RequestState.SKIPPED,
}
#: any request not yet final may be found refunded or expired, or be given up
_ENDINGS = {RequestState.REFUNDED, RequestState.EXPIRED, RequestState.FAILED}
REQUEST_MOVES: dict[RequestState, frozenset[RequestState]] = {
    RequestState.SEEN: frozenset({RequestState.LOCKING, RequestState.SKIPPED, *_ENDINGS}),
    # back to SEEN: the lock transaction never landed, the request may be locked again
    RequestState.LOCKING: frozenset({RequestState.LOCKED, RequestState.SEEN, RequestState.SKIPPED, *_ENDINGS}),
    # back to SEEN from a held lock: it lapsed before we fulfilled
    RequestState.LOCKED: frozenset({RequestState.PROVING, RequestState.SEEN, *_ENDINGS}),
    RequestState.PROVING: frozenset({RequestState.PROVED, RequestState.SEEN, *_ENDINGS}),
    RequestState.PROVED: frozenset({RequestState.FULFILLING, RequestState.SEEN, *_ENDINGS}),
    # back to PROVED: the fulfil transaction never landed, the proof may be sent again
    RequestState.FULFILLING: frozenset({RequestState.FULFILLED, RequestState.PROVED, *_ENDINGS}),
    **{state: frozenset() for state in _TERMINAL_REQUEST},
}

OPEN_TX = frozenset({TxState.SIGNED, TxState.SENT})
_TX_ENDINGS = frozenset({TxState.MINED, TxState.REVERTED, TxState.REPLACED, TxState.DROPPED})
TX_MOVES: dict[TxState, frozenset[TxState]] = {
    TxState.SIGNED: frozenset({TxState.SENT, *_TX_ENDINGS}),
    TxState.SENT: frozenset({TxState.SENT, *_TX_ENDINGS}),  # SENT again: a fee bump's attempt went out
    **{state: frozenset() for state in _TX_ENDINGS},
}

#: transaction kinds the outbox links to their requests (`RequestRow.lock_tx` / `fulfil_tx`)
LOCK = "lock"
FULFIL = "fulfil"


class OutboxError(ProverError):
    """The keeper's outbox cannot be used: not an outbox, another version, unreadable."""

    default_hint = "each market has its own outbox under <workdir>/keeper/; move a damaged one aside to start afresh"


class OutboxLocked(OutboxError):
    """Another running keeper holds this outbox: two keepers on one key and market would race
    each other's nonces and could lock or fulfil a request twice."""

    default_hint = "stop the other keeper first, or give this one another --workdir"


class IllegalTransition(OutboxError):
    """A move the state tables forbid (e.g. fulfilled -> locking): refused, nothing written."""

    default_hint = "this is a bug in the caller: the record was left as it was"


def is_final(state: RequestState) -> bool:
    return state in _TERMINAL_REQUEST


def check_request_move(request_id: int, current: RequestState, new: RequestState) -> None:
    if new not in REQUEST_MOVES[current]:
        raise IllegalTransition(f"request {request_id} cannot move from {current} to {new}")


def check_tx_move(tx_id: int, current: TxState, new: TxState) -> None:
    if new not in TX_MOVES[current]:
        raise IllegalTransition(f"transaction {tx_id} cannot move from {current} to {new}")


@dataclass(frozen=True)
class InferenceRequest:
    """A market request as the chain announced it (uint256 values as Python ints)."""

    request_id: int
    model_id: int
    version: int
    inputs: tuple[int, ...]
    deadline: int  # unix seconds, the last second it may be fulfilled
    escrow: int
    prover_fee: int


@dataclass(frozen=True)
class RequestRow:
    """One request and the keeper's progress on it."""

    request: InferenceRequest
    state: RequestState
    lock_tx: int | None  # the latest lock transaction's id in the outbox
    fulfil_tx: int | None
    error: str | None
    updated_at: float

    @property
    def request_id(self) -> int:
        return self.request.request_id


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fees per gas, in wei."""

    max_fee: int
    tip: int


@dataclass(frozen=True)
class UnsignedTx:
    """What a transaction does, kept so that a replacement can be signed after a restart."""

    kind: str  # "lock", "fulfil", or any other word; also the action named in errors
    request_ids: tuple[int, ...]
    sender: str
    nonce: int
    to: str
    value: int
    data: bytes
    gas: int


@dataclass(frozen=True)
class Attempt:
    """One signed version of a transaction: the first, or a fee bump with the same nonce."""

    tx_id: int
    number: int  # 1 for the first
    tx_hash: str
    raw: bytes
    fees: Fees
    created_at: float


@dataclass(frozen=True)
class TxRow:
    """A transaction and where it stands. `tx_hash`, `raw` and `fees` are those of the attempt
    that was mined, else of the latest attempt."""

    id: int
    tx: UnsignedTx
    tx_hash: str
    raw: bytes
    fees: Fees
    attempts: int
    state: TxState
    block: int | None
    gas_used: int | None
    error: str | None
    created_at: float
    updated_at: float

    @property
    def nonce(self) -> int:
        return self.tx.nonce

    @property
    def kind(self) -> str:
        return self.tx.kind

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_TX
