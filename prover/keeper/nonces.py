"""One key's nonces, handed out one at a time to the threads of one keeper.

The node's 'pending' count alone is not enough: after a crash the outbox may hold a signed
transaction the node never saw, which still owns its nonce (resume will broadcast it). So the
next nonce is the larger of the node's pending count and one past the outbox's highest open
nonce, read once and then counted locally, and read again whenever the node says the count
is off (another process used the key, or a transaction was dropped for good).

Whoever holds the allocator's lock holds the next nonce until it is used: the sender keeps it
from signing through recording to broadcasting, so nonces reach the node in order, without
gaps, whatever the number of threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from web3 import Web3


class NonceSlot:
    """The next nonce, held under the allocator's lock (see `NonceAllocator.hold`)."""

    def __init__(self, allocator: NonceAllocator) -> None:
        self._allocator = allocator

    @property
    def nonce(self) -> int:
        return self._allocator._current()

    def use(self) -> None:
        """The nonce went out: the next holder gets the one after it."""
        self._allocator._next = self.nonce + 1

    def resync(self) -> int:
        """Forget the local count and read it again from the node and the outbox."""
        self._allocator._next = None
        return self.nonce


class NonceAllocator:
    """Nonces of `address`, starting from max(node's pending count, `recorded()`), where
    `recorded` returns one past the outbox's highest open nonce (or None)."""

    def __init__(self, w3: Web3, address: str, recorded: Callable[[], int | None]) -> None:
        self._w3 = w3
        self._address = Web3.to_checksum_address(address)
        self._recorded = recorded
        self._lock = threading.Lock()
        self._next: int | None = None

    def _current(self) -> int:
        if self._next is None:
            pending = int(self._w3.eth.get_transaction_count(self._address, "pending"))
            self._next = max(pending, self._recorded() or 0)
        return self._next

    @contextmanager
    def hold(self) -> Iterator[NonceSlot]:
        """The next nonce, reserved for this block: other threads wait until it ends."""
        with self._lock:
            yield NonceSlot(self)

    def resync(self) -> int:
        """Read the count again (e.g. after a restart's resume, or a dropped transaction)."""
        with self.hold() as slot:
            return slot.resync()

    def peek(self) -> int:
        """The nonce the next send will use."""
        with self.hold() as slot:
            return slot.nonce
