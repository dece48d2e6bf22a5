"""`prover serve`: the keeper that earns prover fees on the inference market.

It runs until stopped: the first SIGINT or SIGTERM lets the current step finish (a proof,
a transaction being awaited) and exits 0; a second one stops at once, and the outbox
still says where it was. `--once` processes what is pending and exits, for scripts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from prover.cli.base import (
    AccountOpt,
    BackendOpt,
    KeyOpt,
    PasswordFileOpt,
    RayAddressOpt,
    WorkdirOpt,
    app,
    handles_errors,
    ray_address_for,
    signer,
)
from prover.cli.render import RichReporter, err
from prover.errors import ChainError

if TYPE_CHECKING:
    from prover.evm.client import Chain

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event set by the first stop signal; the second one exits at once (128 + N)."""
    stop = threading.Event()
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        stop.set()
        err.print(f"stopping after the current step ({signal.Signals(signum).name}; again to stop now)")

    for number in STOP_SIGNALS:
        signal.signal(number, handle)
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@app.command("serve")
@handles_errors
def serve_command(
    names: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="NAME", help="Circuits to prove for (default: every registered one the market serves)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Process what is pending, then exit.")] = False,
    max_wait: Annotated[
        float, typer.Option(help="Seconds the oldest request waits for its batch to fill.", min=0)
    ] = 2.0,
    min_fee: Annotated[
        int, typer.Option(help="Skip requests paying a prover fee below this (token's smallest units).", min=0)
    ] = 0,
    confirmations: Annotated[int, typer.Option(help="Read requests this many blocks below the head.", min=0)] = 0,
    metrics_port: Annotated[
        Optional[int], typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.", min=1, max=65535)
    ] = None,
    market: Annotated[
        Optional[str], typer.Option("--market", help="The market's address; default: the workdir's.")
    ] = None,
    rpc_url: Annotated[
        Optional[str],
        typer.Option("--rpc-url", envvar="PROVER_RPC_URL", help="The chain the market lives on (required)."),
    ] = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    backend: BackendOpt = "pool",
    ray_address: RayAddressOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Watch the market, lock requests, prove them in batches, fulfil them and earn the prover fees."""
    from prover.evm.client import connect
    from prover.keeper.assemble import keeper_for
    from prover.keeper.metrics import KeeperMetrics, serve_metrics
    from prover.keeper.sender import SenderConfig
    from prover.keeper.settings import ServeConfig
    from prover.market.contract import open_market

    if rpc_url is None:
        raise ChainError(
            "`prover serve` watches a market on a chain that outlasts it",
            hint="start one with `prover node`, then pass --rpc-url URL (or set PROVER_RPC_URL)",
        )
    address = ray_address_for(backend, ray_address)
    ray = None
    if backend == "ray":
        from prover.proving.ray_backend import RaySettings, require_ray

        require_ray()  # before the chain is touched: a missing extra is a one-line error at once
        ray = RaySettings(address=address)
    config = ServeConfig(max_wait_s=max_wait, min_prover_fee=min_fee, once=once)
    metrics = KeeperMetrics()
    reporter = RichReporter()
    with connect(rpc_url, signer(private_key, account, password_file)) as chain:
        contract = open_market(chain, workdir, market)
        circuits = names or _registered_circuits(chain, workdir)
        sender_config = SenderConfig(poll_interval=0.2, confirmations=confirmations)
        with (
            keeper_for(
                chain, workdir, contract, circuits, config=config, sender_config=sender_config, reporter=reporter,
                metrics=metrics, ray=ray,
            ) as keeper,
            stop_requests() as stop,
        ):  # fmt: skip
            if metrics_port is not None:
                serve_metrics(metrics, metrics_port)
                err.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
            served = ", ".join(f"{s.circuit.name} (model {s.model_id} v{s.version})" for s in keeper.served.values())
            err.print(f"serving {served} on market {contract.address} as {keeper.address}")
            keeper.run(stopping=stop.is_set)
    fulfilled = int(metrics.value("keeper_requests_total", {"event": "fulfilled"}))
    per = metrics.gas_per_inference()
    err.print(f"fulfilled {fulfilled} requests" + (f", {per:,.0f} gas per inference" if per else ""))


def _registered_circuits(chain: Chain, workdir: Path) -> list[str]:
    """Every circuit built and registered on this chain in this workdir (the keeper keeps
    the ones the market serves)."""
    from prover.artifacts import circuit_paths
    from prover.evm.deployments import load_deployments

    records = load_deployments(workdir, chain)
    registered = sorted(key.removesuffix(".model") for key in records if key.endswith(".model"))
    names = [name for name in registered if circuit_paths(workdir, name).manifest.exists()]
    if not names:
        raise ChainError(
            "this workdir registered no circuit on this chain",
            hint="pass the circuit names to serve, or run `prover register NAME` first",
        )
    return names
