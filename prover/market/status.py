"""What `prover market status` shows: requests by status, locks held, what the market owes
per token (its balance must equal it: the accounting invariant, checked here too).

Reads every request through `getRequest` at one pinned block, so the counts add up; a dev
market holds tens of requests, and a market with more is better watched through its events
(the keeper does that).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3.contract import Contract

from prover.evm.client import Chain, call
from prover.market.contract import RequestStatus, RequestView, read_request, token_contract
from prover.market.token import recorded_token

#: at most this many of the newest requests are read
SHOWN_REQUESTS = 200


@dataclass(frozen=True)
class TokenBooks:
    token: str
    liabilities: int
    balance: int

    @property
    def balanced(self) -> bool:
        return self.liabilities == self.balance


@dataclass(frozen=True)
class MarketStatus:
    address: str
    block: int
    request_count: int
    protocol_fee_bps: int
    by_status: dict[str, int]
    locked: int
    requests: list[RequestView] = field(default_factory=list)
    books: list[TokenBooks] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "block": self.block,
            "request_count": self.request_count,
            "protocol_fee_bps": self.protocol_fee_bps,
            "by_status": self.by_status,
            "locked": self.locked,
            "open_requests": [view.request_id for view in self.requests if view.status is RequestStatus.OPEN],
            "tokens": [{**book.__dict__, "balanced": book.balanced} for book in self.books],
        }

    def summary(self) -> list[tuple[str, str]]:
        counts = ", ".join(f"{count} {name}" for name, count in self.by_status.items()) or "none"
        rows = [
            ("block", str(self.block)),
            ("requests", f"{self.request_count} ({counts}; {self.locked} open ones locked)"),
            ("protocol fee", f"{self.protocol_fee_bps} bps of the price"),
        ]
        for book in self.books:
            check = "= balance" if book.balanced else f"!= balance {book.balance:,}"
            rows.append(("owes", f"{book.liabilities:,} units of {book.token} {check}"))
        return rows


def market_status(chain: Chain, workdir: Path, market: Contract) -> MarketStatus:
    block = int(chain.w3.eth.block_number)
    now = int(chain.w3.eth.get_block(block)["timestamp"])
    count = int(call(chain, market, "requestCount", block=block))
    views = [read_request(chain, market, rid, block) for rid in range(max(1, count - SHOWN_REQUESTS + 1), count + 1)]
    by_status = Counter(view.status.name.lower() for view in views)
    locked = sum(1 for view in views if view.status is RequestStatus.OPEN and now <= view.locked_until)
    tokens = {view.token for view in views}
    recorded = recorded_token(chain, workdir)
    if recorded is not None:
        tokens.add(recorded)
    books = []
    for token in sorted(tokens):
        erc20 = token_contract(chain, workdir, token)
        owed = int(call(chain, market, "liabilities", token, block=block))
        balance = int(call(chain, erc20, "balanceOf", market.address, block=block))
        books.append(TokenBooks(token, owed, balance))
    return MarketStatus(
        address=market.address,
        block=block,
        request_count=count,
        protocol_fee_bps=int(call(chain, market, "protocolFeeBps", block=block)),
        by_status=dict(by_status),
        locked=locked,
        requests=views,
        books=books,
    )
