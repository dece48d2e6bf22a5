"""The keeper's sender on a real anvil (one per test: these tests stop mining, raise the base
fee and use the key from two processes): simulation before sending, nonces under threads and
after another process used the key, fee bumps, and resuming after SIGKILL at the two points
that matter (recorded but not broadcast; broadcast but no receipt recorded)."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from prover.errors import TransactionReverted
from prover.evm.client import Chain, contract_at, deploy, transact
from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode
from prover.evm.solc import compile_sources
from prover.keeper import (
    LOCK,
    Fees,
    InferenceRequest,
    NextStep,
    Outbox,
    RequestState,
    Sender,
    SenderConfig,
    StuckTransaction,
    TxState,
    bumped_fees,
    outbox_path,
    safe_block,
)
from prover.keeper.fees import Refusal, classify_refusal, known_to_node, receipt_of
from prover.progress import SilentReporter

pytestmark = pytest.mark.chain
ROOT = Path(__file__).resolve().parents[1]
TALLY = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Counts calls: `bump` succeeds once per turn, so a transaction sent twice reverts by name.
contract KeeperTally {
    error WrongTurn(uint256 current, uint256 given);

    uint256 public count;

    function bump(uint256 turn) external {
        if (turn != count) revert WrongTurn(count, turn);
        count += 1;
    }

    function add() external {
        count += 1;
    }
}
"""
FAST = SenderConfig(replace_after=1.0, max_bumps=2, poll_interval=0.05)


@pytest.fixture(scope="module")
def tally_artifact() -> dict[str, Any]:
    return compile_sources({"KeeperTally.sol": TALLY})["KeeperTally"].artifact()


@dataclass
class Env:
    """A fresh anvil with the tally deployed; `chain` is "another process" using the same key
    (its own connection), `sender` the keeper's, whose broadcasts are counted in `sent`."""

    node: AnvilNode
    chain: Chain
    tally: Any
    path: Path
    outbox: Outbox
    w3: Web3
    sent: list[bytes] = field(default_factory=list)
    reporter: SilentReporter = field(default_factory=SilentReporter)

    def sender(self, config: SenderConfig = FAST) -> Sender:
        account = Account.from_key(DEV_PRIVATE_KEY)
        return Sender(
            self.w3, account, self.outbox, chain_id=self.node.chain_id, abi=self.tally.abi, config=config,
            reporter=self.reporter,
        )  # fmt: skip

    def data(self, fn: str, *args: Any) -> str:
        return str(self.tally.encode_abi(fn, args=list(args)))

    def count(self) -> int:
        return int(self.tally.functions.count().call())

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in reply, reply
        return reply["result"]

    def nonce(self, block: str = "latest") -> int:
        return int(self.w3.eth.get_transaction_count(self.chain.address, block))  # type: ignore[arg-type]

    def reopen(self) -> None:
        """A restart: the outbox closed and opened again (the lock released in between)."""
        self.outbox.close()
        self.outbox = Outbox.open(self.path)


@pytest.fixture
def env(tmp_path: Path, tally_artifact: dict[str, Any]) -> Iterator[Env]:
    with AnvilNode(tmp_path / "anvil.log") as node:
        chain = Chain(
            w3=Web3(Web3.HTTPProvider(node.rpc_url)), account=Account.from_key(DEV_PRIVATE_KEY), chain_id=31337
        )
        tally = contract_at(chain, deploy(chain, tally_artifact).address, tally_artifact["abi"])
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        path = outbox_path(tmp_path, node.chain_id, tally.address)
        env = Env(node, chain, tally, path, Outbox.open(path), w3)
        original = w3.eth.send_raw_transaction

        def counted(raw: Any) -> Any:
            env.sent.append(bytes(raw))
            return original(raw)

        w3.eth.send_raw_transaction = counted  # type: ignore[method-assign,assignment]
        try:
            yield env
        finally:
            env.outbox.close()


@contextmanager
def mining(env: Env, every: float, before: Callable[[], object] | None = None) -> Iterator[None]:
    """Blocks mined by hand every `every` seconds while the body runs (automine is off), each
    after `before` (e.g. setting the next block's base fee), on "another process"'s connection."""
    stop = threading.Event()

    def run() -> None:
        w3 = env.chain.w3
        while not stop.wait(every):
            if before is not None:
                before()
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


CHILD = """
import os, signal, sys
from pathlib import Path
from eth_account import Account
from web3 import Web3
from prover.keeper import Outbox, Sender
rpc, key, outbox, to, data, point = sys.argv[1:]
broadcast = Sender._broadcast

def crashing(self, row):
    if point == "recorded":
        os.kill(os.getpid(), signal.SIGKILL)  # recorded in the outbox; the node never saw it
    result = broadcast(self, row)
    os.kill(os.getpid(), signal.SIGKILL)  # the node took it; nothing after that was recorded

Sender._broadcast = crashing
w3 = Web3(Web3.HTTPProvider(rpc))
Sender(w3, Account.from_key(key), Outbox.open(Path(outbox)), chain_id=w3.eth.chain_id).send("bump", to, data)
sys.exit(3)
"""


def crashed_keeper(env: Env, point: str, data: str) -> None:
    """A keeper process on the same outbox, key and node, killed with SIGKILL at `point`
    while it sends `data` to the tally."""
    env.outbox.close()
    args = [env.node.rpc_url, DEV_PRIVATE_KEY, str(env.path), env.tally.address, data, point]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, capture_output=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode(errors="replace")[-2000:]
    env.outbox = Outbox.open(env.path)  # the kernel dropped the dead keeper's lock


# --- pure rules ---------------------------------------------------------------------------------


def test_a_bump_raises_both_fees_by_an_eighth_or_follows_the_market() -> None:
    assert bumped_fees(Fees(100, 10), Fees(50, 5)) == Fees(113, 12)  # ceil(112.5), ceil(11.25)
    assert bumped_fees(Fees(100, 10), Fees(300, 20)) == Fees(300, 20)
    assert bumped_fees(Fees(8, 0), Fees(1, 0)) == Fees(9, 1)  # at least one wei more, a zero tip too
    assert bumped_fees(Fees(100, 10), Fees(50, 5), cap=113) == Fees(113, 12)
    assert bumped_fees(Fees(100, 10), Fees(50, 5), cap=112) is None  # no room left under the cap
    with pytest.raises(ValueError, match=r"at least 12\.5 %"):
        bumped_fees(Fees(100, 10), Fees(50, 5), permille=100)


@pytest.mark.parametrize(
    ("message", "refusal"),
    [
        ("{'code': -32003, 'message': 'transaction already imported'}", Refusal.KNOWN),  # anvil
        ("already known", Refusal.KNOWN),  # geth
        ("{'code': -32003, 'message': 'nonce too low'}", Refusal.NONCE_TAKEN),
        ("replacement transaction underpriced", Refusal.NONCE_PENDING),
        ("{'code': -32003, 'message': 'max fee per gas less than block base fee'}", Refusal.FEE_TOO_LOW),
        ("transaction underpriced", Refusal.FEE_TOO_LOW),
        ("{'code': -32003, 'message': 'Insufficient funds for gas * price + value'}", Refusal.OTHER),
    ],
)
def test_node_refusals_are_read_by_meaning(message: str, refusal: Refusal) -> None:
    assert classify_refusal(message) is refusal


# --- on a real node -----------------------------------------------------------------------------


def test_reads_happen_confirmations_below_the_head(env: Env) -> None:
    for _ in range(5):
        env.rpc("evm_mine")
    head = env.w3.eth.block_number
    assert safe_block(env.w3, 0) == head
    assert safe_block(env.w3, 3) == head - 3
    assert safe_block(env.w3, 10**6) == 0
    assert env.sender(SenderConfig(confirmations=2)).safe_block() == head - 2


def test_a_reverting_call_is_refused_by_name_before_anything_is_signed(env: Env) -> None:
    sender = env.sender()
    before = env.nonce("pending")
    with pytest.raises(TransactionReverted) as info:
        sender.send("bump", env.tally.address, env.data("bump", 5))
    assert (info.value.error_name, info.value.error_args) == ("WrongTurn", (0, 5))
    assert str(info.value) == "bump reverted: WrongTurn(0, 5)"
    assert env.sent == [] and env.outbox.transactions() == [] and env.nonce("pending") == before


def test_concurrent_sends_get_distinct_consecutive_nonces(env: Env) -> None:
    sender = env.sender()
    first = sender.nonces.peek()
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda _: sender.send("add", env.tally.address, env.data("add")), range(8)))
    assert sorted(row.nonce for row in rows) == list(range(first, first + 8))
    assert {row.state for row in rows} == {TxState.MINED}
    assert env.count() == 8 and len(env.sent) == 8 and env.nonce() == first + 8


def test_after_another_process_used_the_key_the_nonces_are_read_again(env: Env) -> None:
    sender = env.sender()
    mine = sender.send("add", env.tally.address, env.data("add"))
    transact(env.chain, env.tally, "add")  # the same key, elsewhere: takes the nonce the sender counts on next
    again = sender.send("add", env.tally.address, env.data("add"))
    rows = env.outbox.transactions()
    assert [(r.nonce, r.state) for r in rows] == [
        (mine.nonce, TxState.MINED),
        (mine.nonce + 1, TxState.REPLACED),
        (mine.nonce + 2, TxState.MINED),
    ]
    assert rows[1].error is not None and "nonce too low" in rows[1].error
    assert again.id == rows[2].id and env.count() == 3 and len(env.sent) == 3


def test_a_race_lost_on_chain_is_recorded_as_reverted_and_named(env: Env) -> None:
    """Two bumps for one turn both simulate fine; the block takes the first, the second reverts."""
    sender = env.sender()
    env.rpc("evm_setAutomine", False)
    first = sender.submit("bump", env.tally.address, env.data("bump", 0))
    # its own gas: the estimate would be made on the same state and pass just the same
    second = sender.submit("bump", env.tally.address, env.data("bump", 0), gas=100_000)
    env.rpc("evm_mine")
    assert sender.wait(first.id).state is TxState.MINED
    with pytest.raises(TransactionReverted) as info:
        sender.wait(second.id)
    assert (info.value.error_name, info.value.error_args) == ("WrongTurn", (1, 0))
    row = env.outbox.transaction(second.id)
    assert row.state is TxState.REVERTED and row.block == env.w3.eth.block_number
    assert row.error == "bump reverted: WrongTurn(1, 0)" and env.count() == 1


def test_a_request_linked_to_its_lock_is_confirmed_after_a_restart(env: Env) -> None:
    env.outbox.add_request(InferenceRequest(7, 1, 1, (1,), 2**40, 10, 1))
    env.outbox.transition(RequestState.LOCKING, 7)
    row = env.sender().send(LOCK, env.tally.address, env.data("add"), request_ids=[7])
    env.reopen()
    request = env.outbox.request(7)
    assert request is not None and request.lock_tx == row.id
    (item,) = env.outbox.pending_work().requests
    assert item.step is NextStep.CONFIRM and item.tx is not None and item.tx.state is TxState.MINED


def test_a_low_fee_transaction_is_replaced_with_higher_fees_and_mined_once(env: Env) -> None:
    """Blocks keep coming at a base fee above the first attempt's cap: the node drops it, the
    bump at the market's price is mined, and the tally moved once."""
    # the bump comes 2 s in; a block every 0.1 s mines it long before a second bump would
    sender = env.sender(SenderConfig(replace_after=2.0, max_bumps=3, poll_interval=0.05))
    env.rpc("evm_setAutomine", False)
    row = sender.submit("bump", env.tally.address, env.data("bump", 0))
    price = hex(row.fees.max_fee + 1)

    def raise_base_fee() -> None:
        env.chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [price])  # type: ignore[arg-type]

    with mining(env, 0.1, raise_base_fee):
        mined = sender.wait(row.id)
    first, second = env.outbox.attempts(row.id)
    assert (mined.state, mined.attempts, mined.tx_hash) == (TxState.MINED, 2, second.tx_hash)
    assert second.fees.max_fee >= -(-first.fees.max_fee * 1125 // 1000) and second.fees.tip >= first.fees.tip
    assert receipt_of(env.w3, first.tx_hash) is None and not known_to_node(env.w3, first.tx_hash)
    assert env.count() == 1 and env.sent == [first.raw, second.raw] and env.nonce() == row.nonce + 1


def test_bumps_are_bounded_then_the_transaction_is_reported_stuck_and_resumed(env: Env) -> None:
    """No block at all: each bump raises the fees by exactly an eighth (the market stands
    still), two bumps, then StuckTransaction; the row stays open and resume settles it."""
    sender = env.sender(SenderConfig(replace_after=0.3, max_bumps=2, poll_interval=0.05))
    env.rpc("evm_setAutomine", False)
    with pytest.raises(StuckTransaction) as info:
        sender.send("bump", env.tally.address, env.data("bump", 0))
    attempts = env.outbox.attempts(info.value.tx.id)
    assert len(attempts) == 3 and env.sent == [a.raw for a in attempts]
    for before, after in itertools.pairwise(attempts):
        assert after.fees.max_fee == -(-before.fees.max_fee * 1125 // 1000)
        assert after.fees.tip == -(-before.fees.tip * 1125 // 1000)
    assert "not mined after 2 bumps" in str(info.value) and env.reporter.warnings == [str(info.value)]
    assert env.outbox.transaction(info.value.tx.id).state is TxState.SENT  # still holds its nonce
    pool = env.rpc("txpool_content")["pending"]
    assert [tx["hash"] for txs in pool.values() for tx in txs.values()] == [attempts[-1].tx_hash]
    env.rpc("evm_mine")
    env.reopen()
    (row,) = env.sender().resume()
    assert (row.state, row.tx_hash) == (TxState.MINED, attempts[-1].tx_hash)
    assert env.count() == 1 and len(env.sent) == 3  # resume sent nothing


def test_a_crash_between_record_and_broadcast_is_resumed_by_one_broadcast(env: Env) -> None:
    crashed_keeper(env, "recorded", env.data("bump", 0))
    (left,) = env.outbox.transactions()
    assert left.state is TxState.SIGNED and not known_to_node(env.w3, left.tx_hash) and env.count() == 0
    sender = env.sender()
    (row,) = sender.resume()
    assert (row.state, row.tx_hash) == (TxState.MINED, left.tx_hash)
    assert env.sent == [left.raw] and env.count() == 1
    assert sender.resume() == [] and env.sent == [left.raw]
    assert sender.nonces.peek() == left.nonce + 1


@pytest.mark.parametrize("automine", [True, False], ids=["mined", "pending"])
def test_a_crash_between_broadcast_and_receipt_is_resumed_without_sending(env: Env, automine: bool) -> None:
    """The node took the transaction (and mined it, or holds it): resume looks the recorded hash
    up, waits if it must, and never sends it again."""
    env.rpc("evm_setAutomine", automine)
    crashed_keeper(env, "broadcast", env.data("bump", 0))
    (left,) = env.outbox.transactions()
    assert left.state is TxState.SIGNED and known_to_node(env.w3, left.tx_hash)
    assert (receipt_of(env.w3, left.tx_hash) is not None) is automine
    with mining(env, 0.3):
        (row,) = env.sender(SenderConfig(replace_after=30, poll_interval=0.05)).resume()
    assert (row.state, row.tx_hash, row.attempts) == (TxState.MINED, left.tx_hash, 1)
    assert env.sent == [] and env.count() == 1


def test_a_recorded_transaction_whose_nonce_another_process_used_is_not_sent(env: Env) -> None:
    crashed_keeper(env, "recorded", env.data("bump", 0))
    transact(env.chain, env.tally, "add")  # the key, elsewhere, with the same nonce (other bytes)
    (row,) = env.sender().resume()
    assert row.state is TxState.REPLACED and row.error is not None and "used by another transaction" in row.error
    assert env.sent == [] and env.count() == 1
