"""The keeper's outbox: one keeper per file, atomic creation, legal moves only, write-ahead
records that survive a restart, and the resume plan read from them (no chain needed)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prover.keeper import (
    FULFIL,
    LOCK,
    Fees,
    IllegalTransition,
    InferenceRequest,
    NextStep,
    Outbox,
    OutboxError,
    OutboxLocked,
    RequestState,
    TxState,
    UnsignedTx,
    database,
    outbox_path,
)

ROOT = Path(__file__).resolve().parents[1]
MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
S = RequestState


def request(request_id: int, deadline: int = 2_000_000_000) -> InferenceRequest:
    return InferenceRequest(
        request_id, model_id=1, version=2, inputs=(3, -4), deadline=deadline, escrow=10, prover_fee=1
    )


def unsigned(nonce: int, kind: str = "other", request_ids: tuple[int, ...] = ()) -> UnsignedTx:
    return UnsignedTx(kind, request_ids, SENDER, nonce, MARKET, 0, b"\x01\x02", 50_000)


def record(box: Outbox, nonce: int, kind: str = "other", request_ids: tuple[int, ...] = (), tag: int = 0) -> int:
    """A recorded transaction with made-up bytes (the outbox does not parse them)."""
    tx_hash = "0x" + f"{nonce:031x}{tag:033x}"
    return box.record_transaction(unsigned(nonce, kind, request_ids), tx_hash, bytes([nonce, tag]), Fees(100, 10)).id


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return outbox_path(tmp_path, 31337, MARKET)


@pytest.fixture
def box(path: Path) -> Iterator[Outbox]:
    with Outbox.open(path) as opened:
        yield opened


def test_one_file_per_chain_and_market_created_whole_in_wal_mode(tmp_path: Path, path: Path) -> None:
    assert path == tmp_path / "keeper" / f"31337-{MARKET.lower()}.sqlite"
    assert outbox_path(tmp_path, 1, MARKET) != path
    with Outbox.open(path):
        assert path.is_file()
    probe = sqlite3.connect(path)
    try:
        assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert probe.execute("PRAGMA user_version").fetchone()[0] == database.SCHEMA_VERSION
    finally:
        probe.close()
    assert not list(path.parent.glob("*.tmp"))


def test_a_failed_creation_leaves_no_outbox_behind(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("prover.keeper.database.os.replace", full_disk)
    with pytest.raises(OutboxError, match="No space left"):
        Outbox.open(path)
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == [path.name + ".lock"]
    monkeypatch.undo()
    with Outbox.open(path) as box:  # the lock was released and nothing half-made is in the way
        assert box.requests() == []


def test_a_file_that_is_not_an_outbox_is_refused_in_one_line(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("hello")
    with pytest.raises(OutboxError) as info:
        Outbox.open(path)
    assert "not a keeper outbox" in str(info.value) and "\n" not in str(info.value)
    path.unlink()
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    with pytest.raises(OutboxError, match="schema version 1 \\(found 0\\)"):
        Outbox.open(path)


def test_a_second_keeper_in_this_process_is_refused(path: Path) -> None:
    with Outbox.open(path), pytest.raises(OutboxLocked) as info:
        Outbox.open(path)
    message = str(info.value)
    assert message == f"outbox {path} is in use by another keeper (pid {os.getpid()})"
    assert "stop the other keeper" in info.value.hint
    with Outbox.open(path):  # closed: free again
        pass


HOLDER = """
import sys, time
from pathlib import Path
from prover.keeper import InferenceRequest, Outbox
box = Outbox.open(Path(sys.argv[1]))
box.add_request(InferenceRequest(7, 1, 2, (3,), 2_000_000_000, 10, 1))
print("ready", flush=True)
time.sleep(600)
"""


def test_a_second_keeper_process_is_refused_until_the_first_dies(path: Path) -> None:
    """Killed with SIGKILL, the holder leaves no stale lock, and what it committed is there."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        with pytest.raises(OutboxLocked) as info:
            Outbox.open(path)
        assert f"(pid {holder.pid})" in str(info.value) and "\n" not in str(info.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with Outbox.open(path) as box:
        found = box.request(7)
        assert found is not None and found.state is S.SEEN


def test_uint256_values_survive_a_restart(path: Path) -> None:
    big = InferenceRequest(2**256 - 1, 2**255, 2**32 - 1, (-(2**255), 2**255 - 1, 0), 2**64 - 1, 2**200, 2**128 - 1)
    with Outbox.open(path) as box:
        box.add_request(big)
    with Outbox.open(path) as box:
        row = box.request(2**256 - 1)
    assert row is not None and row.request == big and row.state is S.SEEN


def test_a_request_goes_the_whole_way(box: Outbox) -> None:
    box.add_request(request(1))
    for state in (S.LOCKING, S.LOCKED, S.PROVING, S.PROVED, S.FULFILLING, S.FULFILLED):
        (row,) = box.transition(state, 1)
        assert row.state is state


@pytest.mark.parametrize(
    ("path_to", "illegal"),
    [
        ((S.LOCKING, S.LOCKED, S.PROVING, S.PROVED, S.FULFILLING, S.FULFILLED), S.LOCKING),
        ((S.LOCKING, S.LOCKED, S.PROVING, S.PROVED, S.FULFILLING, S.FULFILLED), S.FULFILLING),
        ((), S.FULFILLED),
        ((), S.PROVED),
        ((S.LOCKING, S.LOCKED), S.FULFILLING),
        ((S.REFUNDED,), S.SEEN),
        ((S.SKIPPED,), S.LOCKING),
        ((S.EXPIRED,), S.FULFILLING),
        ((S.LOCKING, S.LOCKED, S.PROVING, S.PROVED, S.FULFILLING), S.LOCKING),
    ],
)
def test_illegal_moves_are_refused_and_write_nothing(
    box: Outbox, path_to: tuple[RequestState, ...], illegal: RequestState
) -> None:
    box.add_request(request(1))
    for state in path_to:
        box.transition(state, 1)
    before = box.request(1)
    assert before is not None
    with pytest.raises(IllegalTransition) as info:
        box.transition(illegal, 1)
    assert str(info.value) == f"request 1 cannot move from {before.state} to {illegal}"
    assert box.request(1) == before


def test_a_batch_moves_all_or_none(box: Outbox) -> None:
    for i in (1, 2, 3):
        box.add_request(request(i))
    box.transition(S.SKIPPED, 2)
    with pytest.raises(IllegalTransition, match="request 2 cannot move from skipped to locking"):
        box.transition(S.LOCKING, 1, 2, 3)
    assert [r.state for r in box.requests()] == [S.SEEN, S.SKIPPED, S.SEEN]
    with pytest.raises(OutboxError, match="request 9 is not in the outbox"):
        box.transition(S.LOCKING, 1, 9)
    assert box.requests(S.LOCKING) == []
    assert [r.request_id for r in box.transition(S.LOCKING, 1, 3)] == [1, 3]


def test_final_transactions_never_move_again(box: Outbox) -> None:
    tx_id = record(box, 0)
    assert box.transaction(tx_id).state is TxState.SIGNED
    box.mark_sent(tx_id)
    box.settle(tx_id, TxState.MINED, block=5, gas_used=21_000)
    moves: list[Callable[[], object]] = [lambda: box.mark_sent(tx_id), lambda: box.settle(tx_id, TxState.REPLACED)]
    for move in moves:
        with pytest.raises(IllegalTransition, match=f"transaction {tx_id} cannot move from mined"):
            move()
    with pytest.raises(OutboxError, match="is mined: it cannot be replaced"):
        box.record_attempt(tx_id, "0x" + "ab" * 32, b"\x09", Fees(200, 20))
    with pytest.raises(OutboxError, match="settle takes a final state"):
        box.settle(record(box, 1), TxState.SENT)
    row = box.transaction(tx_id)
    assert (row.state, row.block, row.gas_used, row.attempts) == (TxState.MINED, 5, 21_000, 1)


def test_one_open_transaction_per_nonce(box: Outbox) -> None:
    first = record(box, 4)
    with pytest.raises(OutboxError, match="already has an open transaction with nonce 4"):
        record(box, 4, tag=1)
    assert box.next_nonce(SENDER) == 5 and box.next_nonce(MARKET) is None
    box.settle(first, TxState.REPLACED)
    assert box.next_nonce(SENDER) is None  # a replaced transaction owns no nonce
    record(box, 4, tag=2)
    assert [t.state for t in box.transactions()] == [TxState.REPLACED, TxState.SIGNED]


def test_lock_and_fulfil_transactions_are_linked_to_their_requests(box: Outbox) -> None:
    box.add_request(request(1))
    box.add_request(request(2))
    lock = record(box, 0, LOCK, (1, 2))
    fulfil = record(box, 1, FULFIL, (2,))
    one, two = box.request(1), box.request(2)
    assert one is not None and two is not None
    assert (one.lock_tx, one.fulfil_tx, two.lock_tx, two.fulfil_tx) == (lock, None, lock, fulfil)
    assert box.transaction(lock).tx.request_ids == (1, 2)
    with pytest.raises(OutboxError, match="request 9 is not in the outbox"):
        record(box, 2, LOCK, (1, 9))
    assert len(box.transactions()) == 2  # the refused one left no row and no link
    one = box.request(1)
    assert one is not None and one.lock_tx == lock


def test_the_mined_attempt_is_what_the_row_keeps(box: Outbox) -> None:
    tx_id = record(box, 0)
    first = box.attempts(tx_id)[0]
    second = box.record_attempt(tx_id, "0x" + "cd" * 32, b"\x07", Fees(113, 12))
    assert (second.attempts, second.tx_hash, second.fees) == (2, "0x" + "cd" * 32, Fees(113, 12))
    with pytest.raises(OutboxError, match="is not an attempt of transaction"):
        box.settle(tx_id, TxState.MINED, tx_hash="0x" + "ee" * 32)
    mined = box.settle(tx_id, TxState.MINED, tx_hash=first.tx_hash, block=3, gas_used=1)
    assert (mined.tx_hash, mined.raw, mined.fees, mined.attempts) == (first.tx_hash, first.raw, first.fees, 2)
    assert [a.number for a in box.attempts(tx_id)] == [1, 2]


def test_a_scan_records_its_requests_and_its_cursor_together(box: Outbox) -> None:
    assert box.cursor() is None
    box.record_scan([request(1), request(2)], block=10)
    box.transition(S.LOCKING, 1)
    rows = box.record_scan([request(1), request(3)], block=12)  # a rescan leaves known requests alone
    assert [(r.request_id, r.state) for r in rows] == [(1, S.LOCKING), (3, S.SEEN)]
    assert box.cursor() == 12
    with pytest.raises(OutboxError, match="cannot move back from block 12 to 11"):
        box.record_scan([request(4)], block=11)
    assert box.request(4) is None and box.cursor() == 12
    box.set_cursor(20)
    assert box.cursor() == 20


def test_pending_work_after_a_restart(path: Path) -> None:
    """Every unfinished state, with its transaction in every standing, read back after a close."""
    with Outbox.open(path) as box:
        for i in range(1, 12):
            box.add_request(request(i, deadline=1_000 if i == 11 else 2_000))
        box.transition(S.LOCKING, 2, 3, 4, 5, 6, 7, 8, 9, 10)
        box.transition(S.SKIPPED, 10)
        open_lock = record(box, 0, LOCK, (2,))  # still open
        mined_lock = record(box, 1, LOCK, (3,))
        box.settle(mined_lock, TxState.MINED, block=1, gas_used=1)
        reverted_lock = record(box, 2, LOCK, (4,))
        box.settle(reverted_lock, TxState.REVERTED, error="lock reverted: AlreadyLocked(4, ...)")
        # 5: locking, but the crash came before its transaction was recorded
        box.transition(S.LOCKED, 6)
        box.transition(S.LOCKED, 7)
        box.transition(S.PROVING, 7)
        box.transition(S.LOCKED, 8)
        box.transition(S.PROVING, 8)
        box.transition(S.PROVED, 8)
        box.transition(S.LOCKED, 9)
        box.transition(S.PROVING, 9)
        box.transition(S.PROVED, 9)
        box.transition(S.FULFILLING, 9)
        fulfil = record(box, 3, FULFIL, (9,))
        box.mark_sent(fulfil)
    with Outbox.open(path) as box:
        work = box.pending_work(now=1_500)
        late = box.pending_work(now=2_500)
    steps = {item.request.request_id: item.step for item in work.requests}
    assert steps == {
        1: NextStep.DECIDE,
        2: NextStep.AWAIT,
        3: NextStep.CONFIRM,
        4: NextStep.RETRY,
        5: NextStep.RETRY,
        6: NextStep.PROVE,
        7: NextStep.PROVE,
        8: NextStep.FULFIL,
        9: NextStep.AWAIT,
        11: NextStep.EXPIRE,
    }
    assert [t.id for t in work.transactions] == [open_lock, fulfil]
    (retry,) = [item for item in work.by_step(NextStep.RETRY) if item.tx is not None]
    assert retry.tx is not None and retry.tx.error == "lock reverted: AlreadyLocked(4, ...)"
    # past every deadline: whatever is in flight is still awaited, a mined lock still confirmed
    late_steps = {item.request.request_id: item.step for item in late.requests}
    assert late_steps[2] is late_steps[9] is NextStep.AWAIT
    assert late_steps[3] is NextStep.CONFIRM
    assert {late_steps[i] for i in (1, 4, 5, 6, 7, 8, 11)} == {NextStep.EXPIRE}
