"""A keeper in a child process that kills itself (SIGKILL: no cleanup, no flush) at a chosen
point, for the resume tests. Usage:

    python keeper_child.py RPC_URL WORKDIR MARKET CIRCUIT OUTBOX POINT

POINT is `locked` (our lock is on chain, nothing proved), `proved` (the proof is on disk,
nothing sent) or `fulfil-sent` (the fulfil transaction is broadcast, its receipt unread).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from prover.evm.client import connect
from prover.evm.node import DEV_PRIVATE_KEY
from prover.keeper.assemble import keeper_for
from prover.keeper.records import FULFIL
from prover.keeper.sender import Sender
from prover.keeper.settings import ServeConfig
from prover.market.contract import open_market
from prover.progress import Reporter

TRIGGERS = {"locked": ": locked", "proved": "proved requests"}


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Tripwire(Reporter):
    def __init__(self, needle: str | None) -> None:
        self.needle = needle

    def note(self, message: str) -> None:
        print(message, flush=True)
        if self.needle is not None and self.needle in message:
            die()


def main() -> None:
    rpc_url, workdir, market, circuit, outbox, point = sys.argv[1:7]
    if point == "fulfil-sent":
        original = Sender.wait

        def wait(self: Sender, tx_id: int) -> object:
            if self.outbox.transaction(tx_id).kind == FULFIL:
                die()
            return original(self, tx_id)

        Sender.wait = wait  # type: ignore[method-assign,assignment]
    with connect(rpc_url, DEV_PRIVATE_KEY) as chain:
        contract = open_market(chain, Path(workdir), market)
        config = ServeConfig(once=True, max_wait_s=0)
        with keeper_for(
            chain, Path(workdir), contract, [circuit], config=config, reporter=Tripwire(TRIGGERS.get(point)),
            outbox=Path(outbox),
        ) as keeper:  # fmt: skip
            keeper.run()
    sys.exit(3)  # the tripwire never fired


if __name__ == "__main__":
    main()
