"""`prover pool`: operate the fee pool `prover deploy fee` put on a chain, without `cast`.

`status` reads (no key needed); `record-price`, `simulate`, `pause` and `unpause` send the
owner's transactions. They work on the chain the pool lives on (`--rpc-url`, or
`$PROVER_RPC_URL`, e.g. a `prover node`), on the pool recorded for the circuit in the
workdir or the one at `--address`. The work is the fee consumer's (its `operations`
module), reached by name through the consumer lookup like `deploy` and `submit` reach it:
the CLI names no consumer module (import-linter checks that).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Protocol, runtime_checkable

import typer

from prover.cli.base import (
    AccountOpt,
    JsonOpt,
    KeyOpt,
    PasswordFileOpt,
    WorkdirOpt,
    app,
    emit_json,
    handles_errors,
    signer,
)
from prover.cli.render import show_table
from prover.errors import ChainError, ProverError

if TYPE_CHECKING:
    from prover.evm.client import Chain

pool_app = typer.Typer(
    help="Operate a deployed fee pool (AdaptiveFeePool): its state, its prices, its pause switch.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(pool_app, name="pool")

#: the consumer whose pool `prover pool` drives
POOL_CONSUMER = "fee"

RpcOpt = Annotated[
    Optional[str], typer.Option("--rpc-url", envvar="PROVER_RPC_URL", help="The chain the pool lives on (required).")
]
AddressOpt = Annotated[
    Optional[str], typer.Option("--address", help="The pool's address; default: the one deployed for --circuit.")
]
CircuitOpt = Annotated[str, typer.Option("--circuit", help="The circuit whose pool `prover deploy CIRCUIT` recorded.")]


class Report(Protocol):
    def document(self) -> dict[str, Any]: ...

    def summary(self) -> list[tuple[str, str]]: ...


@runtime_checkable
class PoolDriver(Protocol):
    """What a consumer offers for `prover pool` (the fee consumer does)."""

    def pool_status(self, chain: Chain, workdir: Path, circuit: str, address: str | None) -> Report: ...

    def record_prices(
        self, chain: Chain, workdir: Path, circuit: str, address: str | None, prices: Sequence[int]
    ) -> Report: ...

    def record_simulated(
        self, chain: Chain, workdir: Path, circuit: str, address: str | None, regime: str, count: int, seed: int | None
    ) -> Report: ...

    def set_paused(self, chain: Chain, workdir: Path, circuit: str, address: str | None, paused: bool) -> Report: ...


def _driver() -> PoolDriver:
    from prover.consumers import get_consumer

    consumer = get_consumer(POOL_CONSUMER)
    if not isinstance(consumer, PoolDriver):
        raise ProverError(f"consumer {POOL_CONSUMER!r} drives no pool", hint="`prover consumers` lists what is there")
    return consumer


def _chain_of(rpc_url: str | None) -> str:
    if rpc_url is None:
        raise ChainError(
            "`prover pool` works on the chain the pool lives on",
            hint="start one with `prover node`, `prover deploy fee --rpc-url URL`, then pass --rpc-url URL "
            "(or set PROVER_RPC_URL)",
        )
    return rpc_url


def _show(title: str, report: Report, json_out: bool) -> None:
    if json_out:
        emit_json(report.document())
    else:
        show_table(title, report.summary())


@pool_app.command("status")
@handles_errors
def status_command(
    address: AddressOpt = None,
    circuit: CircuitOpt = "fee",
    rpc_url: RpcOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """The pool's fee, observations, last update and pause, and whether `submit` can update it now (no key needed)."""
    from prover.evm.client import connect

    driver = _driver()
    with connect(_chain_of(rpc_url), None) as chain:
        status = driver.pool_status(chain, workdir, circuit, address)
        title = f"AdaptiveFeePool {status.document()['address']} on chain {chain.chain_id}"
    _show(title, status, json_out)


@pool_app.command("record-price")
@handles_errors
def record_price_command(
    prices: Annotated[
        list[int],
        typer.Argument(
            metavar="PRICE",
            help="Prices to record in order, whole numbers 0 < p < 2**128 in the pool's unit (the demo's: 1e-8).",
        ),
    ],
    address: AddressOpt = None,
    circuit: CircuitOpt = "fee",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Record price observations (as the pool's owner): each starts a new epoch; a proof needs the last 9."""
    from prover.evm.client import connect

    driver = _driver()
    with connect(_chain_of(rpc_url), signer(private_key, account, password_file)) as chain:
        recorded = driver.record_prices(chain, workdir, circuit, address, prices)
    _show("prices recorded", recorded, json_out)


@pool_app.command("simulate")
@handles_errors
def simulate_command(
    regime: Annotated[Literal["calm", "volatile"], typer.Argument(help="The simulated market's regime.")],
    count: Annotated[int, typer.Option("--count", help="How many prices (a proof needs the last 9).")] = 9,
    seed: Annotated[
        Optional[int], typer.Option("--seed", help="Simulator seed; default: one per observation count.")
    ] = None,
    address: AddressOpt = None,
    circuit: CircuitOpt = "fee",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Record a stretch of simulated prices continuing from the pool's latest, as `prover demo` feeds its pool."""
    from prover.evm.client import connect

    driver = _driver()
    with connect(_chain_of(rpc_url), signer(private_key, account, password_file)) as chain:
        recorded = driver.record_simulated(chain, workdir, circuit, address, regime, count, seed)
    _show(f"{regime} prices recorded", recorded, json_out)


def _pause(
    paused: bool,
    address: str | None,
    circuit: str,
    rpc_url: str | None,
    key: tuple[str | None, str | None, Path | None],
    workdir: Path,
    json_out: bool,
) -> None:
    from prover.evm.client import connect

    driver = _driver()
    with connect(_chain_of(rpc_url), signer(*key)) as chain:
        change = driver.set_paused(chain, workdir, circuit, address, paused)
    _show("pool paused" if paused else "pool resumed", change, json_out)


@pool_app.command("pause")
@handles_errors
def pause_command(
    address: AddressOpt = None,
    circuit: CircuitOpt = "fee",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Stop fee updates (the owner's switch; prices can still be recorded)."""
    _pause(True, address, circuit, rpc_url, (private_key, account, password_file), workdir, json_out)


@pool_app.command("unpause")
@handles_errors
def unpause_command(
    address: AddressOpt = None,
    circuit: CircuitOpt = "fee",
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Resume fee updates."""
    _pause(False, address, circuit, rpc_url, (private_key, account, password_file), workdir, json_out)
