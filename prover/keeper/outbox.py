"""The keeper's outbox: every request it saw and every transaction it signed, in one SQLite
file that survives crashes and restarts.

The write-ahead rule lives here: a transaction is recorded (signed raw bytes, hash, nonce)
before it is broadcast, and every fee bump is recorded before it goes out, so after a crash
the keeper looks the hashes up on chain instead of signing anew. Each method is one SQLite
transaction (`BEGIN IMMEDIATE ... COMMIT`), so a crash leaves the file as it was before or
after a step, never in between; every state change goes through the tables in `records`.

`pending_work()` is the question a restarted keeper asks first: which transactions are still
open (hand them to `Sender.resume`) and what each unfinished request needs next.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prover.keeper.database import (
    acquire_lock,
    connect_database,
    create_database,
    insert_request,
    request_row,
    tx_row,
)
from prover.keeper.records import (
    FULFIL,
    LOCK,
    OPEN_TX,
    Attempt,
    Fees,
    InferenceRequest,
    OutboxError,
    RequestRow,
    RequestState,
    TxRow,
    TxState,
    UnsignedTx,
    check_request_move,
    check_tx_move,
)
from prover.keeper.work import PendingWork, plan

LOG_CURSOR = "logs"


class Outbox:
    """One keeper's durable record for one market; open it with `Outbox.open(path)`.

    Holding an Outbox holds its lock: a second keeper (another process, or a second Outbox in
    this one) is refused with `OutboxLocked` until `close()`. The object is thread-safe: one
    connection, used under one lock.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._conn = conn
        self._lock_fd: int | None = lock_fd
        self._mutex = threading.RLock()

    @classmethod
    def open(cls, path: Path) -> Outbox:
        """Lock the outbox at `path`, creating it (atomically) if it does not exist yet."""
        path = Path(path)
        fd = acquire_lock(path)
        try:
            if not path.exists():
                create_database(path)
            return cls(path, connect_database(path), fd)
        except BaseException:
            os.close(fd)
            raise

    def close(self) -> None:
        """Close the database, then release the lock (in that order: the next keeper must
        find every committed write)."""
        with self._mutex:
            if self._lock_fd is None:
                return
            self._conn.close()
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back whole if the block raises."""
        with self._mutex:
            if self._lock_fd is None:
                raise OutboxError(f"outbox {self.path} is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._mutex:
            cursor = self._conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    # --- requests ---------------------------------------------------------------------------

    def record_scan(self, requests: Sequence[InferenceRequest], block: int) -> list[RequestRow]:
        """Add the requests a log scan found up to `block` and move the cursor there, in one
        transaction: a crash never leaves the cursor past a request it did not record. A
        request already known (a rescan) is left as it is."""
        now = time.time()
        with self._writing() as conn:
            for request in requests:
                insert_request(conn, request, now)
            self._move_cursor(conn, LOG_CURSOR, block, now)
        return [self._request(r.request_id) for r in requests]

    def add_request(self, request: InferenceRequest) -> RequestRow:
        """Record one request as seen (left as it is if already known); the cursor stays."""
        with self._writing() as conn:
            insert_request(conn, request, time.time())
        return self._request(request.request_id)

    def request(self, request_id: int) -> RequestRow | None:
        rows = self._read("SELECT * FROM requests WHERE request_id = ?", (str(request_id),))
        return request_row(rows[0]) if rows else None

    def _request(self, request_id: int) -> RequestRow:
        row = self.request(request_id)
        if row is None:
            raise OutboxError(f"request {request_id} is not in the outbox {self.path}")
        return row

    def requests(self, *states: RequestState) -> list[RequestRow]:
        """Requests in any of `states` (all of them when none is given), oldest id first."""
        sql = "SELECT * FROM requests"
        if states:
            sql += f" WHERE state IN ({', '.join('?' * len(states))})"
        rows = [request_row(row) for row in self._read(sql, [str(s) for s in states])]
        return sorted(rows, key=lambda r: r.request_id)

    def transition(self, new: RequestState, *request_ids: int, error: str | None = None) -> list[RequestRow]:
        """Move every request to `new`, all or none: one illegal move (see `REQUEST_MOVES`)
        or an unknown id refuses the whole batch and writes nothing."""
        now = time.time()
        with self._writing() as conn:
            for request_id in request_ids:
                found = conn.execute("SELECT state FROM requests WHERE request_id = ?", (str(request_id),)).fetchone()
                if found is None:
                    raise OutboxError(f"request {request_id} is not in the outbox {self.path}")
                check_request_move(request_id, RequestState(found[0]), new)
                conn.execute(
                    "UPDATE requests SET state = ?, error = ?, updated_at = ? WHERE request_id = ?",
                    (new, error, now, str(request_id)),
                )
        return [self._request(request_id) for request_id in request_ids]

    # --- the log cursor ---------------------------------------------------------------------

    def cursor(self, name: str = LOG_CURSOR) -> int | None:
        """The last block the log scan has processed, None before the first scan."""
        rows = self._read("SELECT block FROM cursor WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else None

    def set_cursor(self, block: int, name: str = LOG_CURSOR) -> None:
        with self._writing() as conn:
            self._move_cursor(conn, name, block, time.time())

    def _move_cursor(self, conn: sqlite3.Connection, name: str, block: int, now: float) -> None:
        """Forward only: going back would make a scan skip nothing but could hide a bug that
        rewinds it; a reorg-aware rescan reads from `safe_block`, never moves the cursor back."""
        found = conn.execute("SELECT block FROM cursor WHERE name = ?", (name,)).fetchone()
        if found is not None and block < int(found[0]):
            raise OutboxError(f"the {name} cursor cannot move back from block {found[0]} to {block}")
        conn.execute(
            "INSERT INTO cursor (name, block, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET block = excluded.block, updated_at = excluded.updated_at",
            (name, block, now),
        )

    # --- transactions -----------------------------------------------------------------------

    def record_transaction(self, tx: UnsignedTx, tx_hash: str, raw: bytes, fees: Fees) -> TxRow:
        """Record a signed transaction as SIGNED (the write-ahead step) and link a lock or
        fulfil transaction to its requests. A second open transaction with the same sender
        and nonce is refused: it would be a double send."""
        now = time.time()
        with self._writing() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO transactions (kind, request_ids, sender, nonce, to_address, value, data, gas,"
                    " tx_hash, raw, max_fee, tip, attempts, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                    (
                        tx.kind,
                        json.dumps([str(i) for i in tx.request_ids]),
                        tx.sender,
                        tx.nonce,
                        tx.to,
                        str(tx.value),
                        tx.data.hex(),
                        tx.gas,
                        tx_hash,
                        raw.hex(),
                        str(fees.max_fee),
                        str(fees.tip),
                        TxState.SIGNED,
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError:
                raise OutboxError(
                    f"{tx.sender} already has an open transaction with nonce {tx.nonce} in {self.path}"
                ) from None
            tx_id = int(cursor.lastrowid or 0)
            self._insert_attempt(conn, tx_id, 1, tx_hash, raw, fees, now)
            column = {LOCK: "lock_tx", FULFIL: "fulfil_tx"}.get(tx.kind)
            for request_id in tx.request_ids if column else ():
                updated = conn.execute(
                    f"UPDATE requests SET {column} = ?, updated_at = ? WHERE request_id = ?",
                    (tx_id, now, str(request_id)),
                )
                if updated.rowcount != 1:
                    raise OutboxError(f"request {request_id} is not in the outbox {self.path}")
        return self.transaction(tx_id)

    def record_attempt(self, tx_id: int, tx_hash: str, raw: bytes, fees: Fees) -> TxRow:
        """Record a replacement (same nonce, higher fees) before it is broadcast."""
        now = time.time()
        with self._writing() as conn:
            row = self._tx_in(conn, tx_id)
            if row.state not in OPEN_TX:
                raise OutboxError(f"transaction {tx_id} is {row.state}: it cannot be replaced")
            number = row.attempts + 1
            self._insert_attempt(conn, tx_id, number, tx_hash, raw, fees, now)
            conn.execute(
                "UPDATE transactions SET tx_hash = ?, raw = ?, max_fee = ?, tip = ?, attempts = ?, updated_at = ?"
                " WHERE id = ?",
                (tx_hash, raw.hex(), str(fees.max_fee), str(fees.tip), number, now, tx_id),
            )
        return self.transaction(tx_id)

    def _insert_attempt(
        self, conn: sqlite3.Connection, tx_id: int, number: int, tx_hash: str, raw: bytes, fees: Fees, now: float
    ) -> None:
        conn.execute(
            "INSERT INTO attempts (tx_id, number, tx_hash, raw, max_fee, tip, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tx_id, number, tx_hash, raw.hex(), str(fees.max_fee), str(fees.tip), now),
        )

    def mark_sent(self, tx_id: int) -> TxRow:
        """The node accepted the latest attempt."""
        return self._move_tx(tx_id, TxState.SENT)

    def settle(
        self,
        tx_id: int,
        state: TxState,
        *,
        tx_hash: str | None = None,
        block: int | None = None,
        gas_used: int | None = None,
        error: str | None = None,
    ) -> TxRow:
        """Give the transaction its final state. For MINED and REVERTED, `tx_hash` names the
        attempt that was included and the row takes that attempt's bytes and fees."""
        if state in OPEN_TX:
            raise OutboxError(f"settle takes a final state, not {state}")
        return self._move_tx(tx_id, state, tx_hash=tx_hash, block=block, gas_used=gas_used, error=error)

    def _move_tx(self, tx_id: int, state: TxState, **fields: Any) -> TxRow:
        now = time.time()
        with self._writing() as conn:
            row = self._tx_in(conn, tx_id)
            check_tx_move(tx_id, row.state, state)
            included = fields.get("tx_hash")
            if included is not None:
                attempt = conn.execute(
                    "SELECT raw, max_fee, tip FROM attempts WHERE tx_id = ? AND tx_hash = ?", (tx_id, included)
                ).fetchone()
                if attempt is None:
                    raise OutboxError(f"{included} is not an attempt of transaction {tx_id}")
                conn.execute(
                    "UPDATE transactions SET tx_hash = ?, raw = ?, max_fee = ?, tip = ? WHERE id = ?",
                    (included, *attempt, tx_id),
                )
            conn.execute(
                "UPDATE transactions SET state = ?, block = coalesce(?, block), gas_used = coalesce(?, gas_used),"
                " error = coalesce(?, error), updated_at = ? WHERE id = ?",
                (state, fields.get("block"), fields.get("gas_used"), fields.get("error"), now, tx_id),
            )
        return self.transaction(tx_id)

    def _tx_in(self, conn: sqlite3.Connection, tx_id: int) -> TxRow:
        cursor = conn.execute("SELECT * FROM transactions WHERE id = ?", (tx_id,))
        cursor.row_factory = sqlite3.Row
        found = cursor.fetchone()
        if found is None:
            raise OutboxError(f"transaction {tx_id} is not in the outbox {self.path}")
        return tx_row(found)

    def transaction(self, tx_id: int) -> TxRow:
        with self._mutex:
            return self._tx_in(self._conn, tx_id)

    def attempts(self, tx_id: int) -> list[Attempt]:
        rows = self._read("SELECT * FROM attempts WHERE tx_id = ? ORDER BY number", (tx_id,))
        return [
            Attempt(
                tx_id=int(r["tx_id"]),
                number=int(r["number"]),
                tx_hash=str(r["tx_hash"]),
                raw=bytes.fromhex(r["raw"]),
                fees=Fees(int(r["max_fee"]), int(r["tip"])),
                created_at=float(r["created_at"]),
            )
            for r in rows
        ]

    def transactions(self, *states: TxState, sender: str | None = None) -> list[TxRow]:
        """Transactions in any of `states` (all when none given), of `sender` if given, by id."""
        sql, params = "SELECT * FROM transactions WHERE 1 = 1", []
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            params += [str(s) for s in states]
        if sender is not None:
            sql += " AND sender = ?"
            params.append(sender)
        return [tx_row(row) for row in self._read(sql + " ORDER BY id", params)]

    def next_nonce(self, sender: str) -> int | None:
        """One past the highest nonce of `sender`'s open transactions (None if it has none):
        a signed transaction the node has not seen yet still owns its nonce."""
        rows = self._read(
            "SELECT max(nonce) FROM transactions WHERE sender = ? AND state IN ('signed', 'sent')", (sender,)
        )
        return None if rows[0][0] is None else int(rows[0][0]) + 1

    # --- after a restart --------------------------------------------------------------------

    def pending_work(self, now: int | None = None) -> PendingWork:
        """What a restarted keeper resumes: open transactions, and for every unfinished
        request its next step (see `work.NextStep`); `now` (unix seconds) flags expired ones."""
        with self._mutex:
            txs = {row.id: row for row in self.transactions()}
            unfinished = [r for r in self.requests() if r.state in _UNFINISHED]
        return plan(unfinished, txs, now)


_UNFINISHED = frozenset(
    {
        RequestState.SEEN,
        RequestState.LOCKING,
        RequestState.LOCKED,
        RequestState.PROVING,
        RequestState.PROVED,
        RequestState.FULFILLING,
    }
)
