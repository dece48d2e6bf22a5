"""Operating a deployed AdaptiveFeePool: find it, read its state, record prices, pause it.

What `prover pool` runs, so the node flow needs no `cast`: deploy the pool, record prices
(or a simulated stretch of them, as the demo does), `prover submit fee`, read the status.
The pool is the one `prover deploy` recorded for this chain in the workdir, or any address
given. A status is read at one block. Prices and the pause switch are the owner's (the
pool proves over its own prices, so only the account that answers for them may record
them): the signer is checked against `owner()`, and every price against the pool's range,
before the first transaction, so a bad price in a list sends none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from models.fee import START_PRICE, simulate_prices
from prover.consumers.base import NO_REGISTRY, consumer_key
from prover.errors import ChainError, ProverError
from prover.evm.client import Chain, call, contract_at, transact
from prover.evm.deployments import has_code, trusted
from prover.evm.solc import compile_project_contracts, load_artifact

POOL_CONTRACT = "AdaptiveFeePool"
#: the consumer name `prover deploy` records a pool under
POOL_CONSUMER = "fee"
#: prices are uint256 below 2**128 (`InvalidPrice` otherwise)
PRICE_LIMIT = 2**128
#: `lastUpdateEpoch` before the first update
NEVER_UPDATED = 2**64 - 1
REGIMES = ("calm", "volatile")
#: the simulated stretches' base seed (the demo's), offset by the pool's observation count
SIMULATION_SEED = 2024
RECORD_HINT = "`prover pool record-price PRICE... --rpc-url URL` (or `prover pool simulate calm --rpc-url URL`)"


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def not_enough_prices(have: int, need: int) -> ChainError:
    """What `submit` says for a pool that cannot be proved over yet (it names the command)."""
    return ChainError(
        f"the pool holds {have} of the {need} prices a proof is made over "
        f"(expectedInputs reverted: NotEnoughObservations({have}, {need}))",
        hint=f"its owner records {need - have} more: {RECORD_HINT}",
    )


def pool_abi(workdir: Path) -> list[dict[str, Any]]:
    """The pool's ABI: compiled by `prover deploy` into `workdir/out`, else compiled now."""
    path = Path(workdir) / "out" / f"{POOL_CONTRACT}.json"
    if path.is_file():
        return list(load_artifact(path, "prover deploy fee")["abi"])
    return list(compile_project_contracts(Path(workdir) / "out")[POOL_CONTRACT].artifact()["abi"])


def open_pool(chain: Chain, workdir: Path, circuit: str = "fee", address: str | None = None) -> Contract:
    """The pool at `address`, else the one `prover deploy CIRCUIT` recorded for this chain
    (while its code is still the code deployed)."""
    if address is None:
        entry = trusted(chain, Path(workdir), consumer_key(circuit), consumer=POOL_CONSUMER)
        if entry is None:
            raise ChainError(
                f"no {POOL_CONTRACT} recorded for {circuit!r} on chain {chain.chain_id} in {workdir}",
                hint=f"deploy one with `prover deploy {circuit} --rpc-url URL`, or pass --address",
            )
        address = str(entry["address"])
    elif not has_code(chain, address):
        raise ChainError(f"no contract at {address} on chain {chain.chain_id}", hint="check --address and --rpc-url")
    pool = contract_at(chain, Web3.to_checksum_address(address), pool_abi(workdir))
    try:
        call(chain, pool, "WINDOW")
    except ChainError:
        raise ChainError(
            f"{address} on chain {chain.chain_id} is not an {POOL_CONTRACT}",
            hint="leave out --address for the pool `prover deploy fee` recorded",
        ) from None
    return pool


@dataclass(frozen=True)
class PoolStatus:
    """A pool's state at one block: fee and policy, observations, last update, pause."""

    address: str
    chain_id: int
    block: int
    timestamp: int
    fee_bps: int
    min_fee_bps: int
    max_fee_bps: int
    max_step_bps: int
    min_update_interval_s: int
    observations: int
    window_size: int
    window: list[int]
    last_update_epoch: int | None
    last_update_time: int | None
    paused: bool
    owner: str
    verifier: str
    registry: str | None
    model_id: int | None

    @property
    def next_update_time(self) -> int:
        return (self.last_update_time or 0) + self.min_update_interval_s

    def why_no_update(self) -> str | None:
        """What keeps `prover submit` from updating the fee as of this block, or None. (The
        rate limit is judged at this block's timestamp; the next block's is later.)"""
        if self.observations < self.window_size:
            return (
                f"needs {self.window_size - self.observations} more prices ({self.observations} of {self.window_size})"
            )
        if self.paused:
            return "paused by its owner (`prover pool unpause`)"
        if self.last_update_epoch == self.observations:
            return f"already updated at epoch {self.observations}: a new price starts the next"
        if self.timestamp < self.next_update_time:
            return f"rate limit: next update from {_utc(self.next_update_time)}"
        return None

    def document(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "chain_id": self.chain_id,
            "block": self.block,
            "timestamp": self.timestamp,
            "fee_bps": self.fee_bps,
            "min_fee_bps": self.min_fee_bps,
            "max_fee_bps": self.max_fee_bps,
            "max_step_bps": self.max_step_bps,
            "min_update_interval_s": self.min_update_interval_s,
            "observations": self.observations,
            "window_size": self.window_size,
            "window": self.window,
            "last_update_epoch": self.last_update_epoch,
            "last_update_time": self.last_update_time,
            "next_update_time": self.next_update_time,
            "paused": self.paused,
            "owner": self.owner,
            "verifier": self.verifier,
            "registry": self.registry,
            "model_id": self.model_id,
            "can_update": self.why_no_update() is None,
            "why_no_update": self.why_no_update(),
        }

    def summary(self) -> list[tuple[str, str]]:
        recorded = [str(price) for price in self.window if price]
        last = (
            "never"
            if self.last_update_epoch is None
            else f"epoch {self.last_update_epoch} at {_utc(self.last_update_time or 0)}"
        )
        return [
            ("fee", f"{self.fee_bps} bps (bounds {self.min_fee_bps}-{self.max_fee_bps}, step <= {self.max_step_bps})"),
            ("observations", f"{self.observations} (a proof needs the last {self.window_size})"),
            ("window", ", ".join(recorded) if recorded else "no prices yet"),
            ("last update", last),
            ("paused", "yes" if self.paused else "no"),
            ("next update", self.why_no_update() or "open: `prover submit fee --rpc-url URL`"),
            ("owner", self.owner),
            ("verifier", self.verifier),
            ("registry", "none" if self.registry is None else f"{self.registry} (model {self.model_id})"),
            ("block", f"{self.block} ({_utc(self.timestamp)})"),
        ]


def read_status(chain: Chain, pool: Contract, block: int | None = None) -> PoolStatus:
    """The pool's state, every read at `block` (default: the latest). Reads only: no key needed."""
    block = int(chain.w3.eth.block_number) if block is None else block

    def read(name: str) -> Any:
        return call(chain, pool, name, block=block)

    last_epoch, last_time = int(read("lastUpdateEpoch")), int(read("lastUpdateTime"))
    registry = str(read("registry"))
    return PoolStatus(
        address=str(pool.address),
        chain_id=chain.chain_id,
        block=block,
        timestamp=int(chain.w3.eth.get_block(block)["timestamp"]),
        fee_bps=int(read("feeBps")),
        min_fee_bps=int(read("minFeeBps")),
        max_fee_bps=int(read("maxFeeBps")),
        max_step_bps=int(read("maxStepBps")),
        min_update_interval_s=int(read("minUpdateInterval")),
        observations=int(read("observationCount")),
        window_size=int(read("WINDOW")),
        window=[int(price) for price in read("observations")],
        last_update_epoch=None if last_epoch == NEVER_UPDATED else last_epoch,
        last_update_time=None if last_epoch == NEVER_UPDATED else last_time,
        paused=bool(read("paused")),
        owner=str(read("owner")),
        verifier=str(read("verifier")),
        registry=None if int(registry, 16) == int(NO_REGISTRY, 16) else registry,
        model_id=int(read("modelId")) or None,
    )


def _check_owner(chain: Chain, pool: Contract, action: str) -> None:
    """The pool takes `action` from its owner only: refused by name before any gas is spent."""
    owner = str(call(chain, pool, "owner"))
    if chain.address.lower() != owner.lower():
        raise ChainError(
            f"only the pool's owner {owner} may {action}; this command signs as {chain.address}",
            hint="sign with the owner's key (the one that deployed it): --private-key or --account",
        )


@dataclass(frozen=True)
class RecordedPrice:
    index: int
    price: int
    tx_hash: str
    gas_used: int


@dataclass(frozen=True)
class RecordedPrices:
    """Prices a pool accepted, in order, and where that leaves it."""

    address: str
    recorded: list[RecordedPrice]
    observations: int
    window_size: int

    def document(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "recorded": [vars(price) for price in self.recorded],
            "observations": self.observations,
            "window_size": self.window_size,
            "provable": self.observations >= self.window_size,
        }

    def summary(self) -> list[tuple[str, str]]:
        missing = self.window_size - self.observations
        rows = [(f"price #{p.index}", f"{p.price} (gas {p.gas_used:,})") for p in self.recorded]
        return [
            *rows,
            ("observations", str(self.observations)),
            ("next", f"{missing} more prices before a proof" if missing > 0 else "`prover submit fee --rpc-url URL`"),
        ]


def check_prices(prices: Sequence[int]) -> list[int]:
    """Every price within the pool's range (0 < price < 2**128), as ints; none is an error."""
    if not prices:
        raise ProverError("no price given", hint="prover pool record-price PRICE [PRICE...]")
    for price in prices:
        if isinstance(price, bool) or not isinstance(price, int) or not 0 < price < PRICE_LIMIT:
            raise ProverError(
                f"price {price!r} is outside the pool's range: a whole number, 0 < price < 2**128",
                hint="prices are integers in the pool's unit (the demo's is 1e-8: 2000.0 is 200000000000)",
            )
    return [int(price) for price in prices]


def record_prices(chain: Chain, pool: Contract, prices: Sequence[int]) -> RecordedPrices:
    """Record `prices` in order (one `recordPrice` each: a swap's price in a real pool),
    after checking them all and the signer; each starts a new epoch."""
    checked = check_prices(prices)
    _check_owner(chain, pool, "record prices")
    recorded = []
    for price in checked:
        receipt = transact(chain, pool, "recordPrice", price)
        event = pool.events.PriceRecorded().process_receipt(receipt)[0]["args"]
        recorded.append(
            RecordedPrice(int(event["index"]), price, receipt["transactionHash"].to_0x_hex(), int(receipt["gasUsed"]))
        )
    return RecordedPrices(
        str(pool.address), recorded, int(call(chain, pool, "observationCount")), int(call(chain, pool, "WINDOW"))
    )


def simulated_stretch(regime: str, count: int, seed: int, start: int = START_PRICE) -> list[int]:
    """`count` prices of the fee model's simulator in one regime (calm or volatile),
    rescaled to continue from `start`: what the demo feeds its pool."""
    if regime not in REGIMES:
        raise ProverError(f"no price regime {regime!r}", hint=f"one of: {', '.join(REGIMES)}")
    if count < 1:
        raise ProverError(f"--count {count}: at least one price", hint="a proof needs the last 9")
    path = simulate_prices(count + 1, seed, regime)
    return [max(1, price * start // START_PRICE) for price in path[1:]]


def record_simulated(chain: Chain, pool: Contract, regime: str, count: int, seed: int | None = None) -> RecordedPrices:
    """Record a simulated stretch continuing from the pool's latest price; the seed
    defaults to one per observation count, so each call adds a fresh, reproducible stretch."""
    observations = int(call(chain, pool, "observationCount"))
    latest = int(call(chain, pool, "observations")[-1]) if observations else START_PRICE
    seed = SIMULATION_SEED + observations if seed is None else seed
    return record_prices(chain, pool, simulated_stretch(regime, count, seed, latest))


@dataclass(frozen=True)
class PauseChange:
    address: str
    paused: bool
    tx_hash: str
    gas_used: int

    def document(self) -> dict[str, Any]:
        return vars(self).copy()

    def summary(self) -> list[tuple[str, str]]:
        state = "paused: fee updates are refused until `prover pool unpause`" if self.paused else "taking fee updates"
        return [("pool", self.address), ("now", state), ("gas", f"{self.gas_used:,}")]


def set_paused(chain: Chain, pool: Contract, paused: bool) -> PauseChange:
    """Pause or resume fee updates (prices can still be recorded while paused); owner only,
    and a no-op is refused by name before anything is sent."""
    if bool(call(chain, pool, "paused")) == paused:
        raise ChainError(f"the pool is already {'paused' if paused else 'running'}", hint="`prover pool status`")
    _check_owner(chain, pool, "pause or resume it")
    receipt = transact(chain, pool, "pause" if paused else "unpause")
    return PauseChange(str(pool.address), paused, receipt["transactionHash"].to_0x_hex(), int(receipt["gasUsed"]))
