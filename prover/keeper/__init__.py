"""The keeper's durable infrastructure: an outbox that survives crashes, and a sender that
never sends a transaction twice or loses one.

A keeper watches a market for requests, locks them, proves them and fulfils them. These
modules know nothing of the market: `Outbox` records requests, transactions and the log
cursor in SQLite (write-ahead, one keeper per file); `Sender` simulates, prices, signs,
records, broadcasts, bumps and, after a restart, resumes one key's transactions.
"""

from prover.keeper.database import outbox_path
from prover.keeper.fees import bumped_fees, market_fees, safe_block
from prover.keeper.outbox import Outbox
from prover.keeper.records import (
    FULFIL,
    LOCK,
    Attempt,
    Fees,
    IllegalTransition,
    InferenceRequest,
    OutboxError,
    OutboxLocked,
    RequestRow,
    RequestState,
    TxRow,
    TxState,
    UnsignedTx,
)
from prover.keeper.sender import Sender, SenderConfig, StuckTransaction, TransactionReplaced
from prover.keeper.work import NextStep, PendingWork, Resumable

__all__ = [
    "FULFIL",
    "LOCK",
    "Attempt",
    "Fees",
    "IllegalTransition",
    "InferenceRequest",
    "NextStep",
    "Outbox",
    "OutboxError",
    "OutboxLocked",
    "PendingWork",
    "RequestRow",
    "RequestState",
    "Resumable",
    "Sender",
    "SenderConfig",
    "StuckTransaction",
    "TransactionReplaced",
    "TxRow",
    "TxState",
    "UnsignedTx",
    "bumped_fees",
    "market_fees",
    "outbox_path",
    "safe_block",
]
