"""The inference market's sides: owners (`prover market ...`), requesters (`request`,
`result`, `refund`), everyone (`withdraw`), and a faucet token on dev chains (`prover token`).

All of them work on the chain the market lives on (`--rpc-url` or `$PROVER_RPC_URL`, e.g. a
`prover node`): an embedded anvil would vanish with the command, market and all. Reads
(`result`, `market status`) need no key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

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
from prover.cli.render import err, show_table, stdout
from prover.errors import ChainError

if TYPE_CHECKING:
    from web3.contract import Contract

    from prover.evm.client import Chain
    from prover.market.actions import ResultReport
    from prover.market.operations import Sent

#: --private-key, --account, --password-file
SigningKey = tuple[Optional[str], Optional[str], Optional[Path]]

market_app = typer.Typer(
    help="The inference market: deploy it, offer a model for sale, see what is open.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(market_app, name="market")
token_app = typer.Typer(
    help="A test stablecoin with a faucet, for dev chains only.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(token_app, name="token")

RpcOpt = Annotated[
    Optional[str],
    typer.Option("--rpc-url", envvar="PROVER_RPC_URL", help="The chain the market lives on (required)."),
]
MarketOpt = Annotated[
    Optional[str],
    typer.Option("--market", help="The market's address; default: the one `prover market deploy` recorded."),
]
TokenOpt = Annotated[
    Optional[str],
    typer.Option("--token", help="ERC-20 address; default: the test token `prover token deploy` recorded."),
]
RequestIdArg = Annotated[int, typer.Argument(help="The request id `prover request` printed.", min=1)]


def _chain_url(rpc_url: str | None) -> str:
    if rpc_url is None:
        raise ChainError(
            "the market lives on a chain that outlasts one command",
            hint="start one with `prover node`, then pass --rpc-url URL (or set PROVER_RPC_URL)",
        )
    return rpc_url


@contextmanager
def _on_chain(rpc_url: str | None, key: SigningKey | None) -> Iterator[Chain]:
    """The market's chain, signing with `key` (None: read only)."""
    from prover.evm.client import connect

    with connect(_chain_url(rpc_url), signer(*key) if key is not None else None) as chain:
        yield chain


@contextmanager
def _on_market(
    rpc_url: str | None, key: SigningKey | None, workdir: Path, market: str | None
) -> Iterator[tuple[Chain, Contract]]:
    """The chain and the market (`--market`, else the workdir's)."""
    from prover.market.contract import open_market

    with _on_chain(rpc_url, key) as chain:
        yield chain, open_market(chain, workdir, market)


def _sent(label: str, sent: Sent) -> tuple[str, str]:
    return label, f"{sent.tx_hash} (block {sent.block}, gas {sent.gas_used:,})"


@market_app.command("deploy")
@handles_errors
def market_deploy_command(
    registry: Annotated[
        Optional[str], typer.Option(help="The model registry; default: the workdir's, else the chain's.")
    ] = None,
    fee_recipient: Annotated[
        Optional[str], typer.Option(help="Who receives protocol fees; default: the deployer.")
    ] = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Deploy an inference market over the model registry, owned by the signer."""
    from prover.market.contract import deploy_market
    from prover.registry.contract import open_registry

    with _on_chain(rpc_url, (private_key, account, password_file)) as chain:
        registry_contract = open_registry(chain, workdir, registry, deploy_if_missing=True)
        market = deploy_market(chain, workdir, registry_contract.address, fee_recipient)
    document = {"chain_id": chain.chain_id, "market": market.address, "registry": registry_contract.address}
    if json_out:
        emit_json(document)
    else:
        show_table(f"InferenceMarket on chain {chain.chain_id}", [(k, str(v)) for k, v in document.items()])


@market_app.command("offer")
@handles_errors
def market_offer_command(
    name: Annotated[str, typer.Argument(help="The registered circuit whose model to sell.")],
    price: Annotated[str, typer.Option(help="Price per inference, in token units (e.g. 0.25).")],
    token: TokenOpt = None,
    payee: Annotated[
        Optional[str], typer.Option(help="Who receives the price (a splitter, a multisig); default: the signer.")
    ] = None,
    lock_stake: Annotated[str, typer.Option(help="What a prover posts per request it locks.")] = "0",
    lock_window: Annotated[int, typer.Option(help="Seconds a prover's lock lasts.", min=5)] = 120,
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Sell inferences of NAME's model: set its offer and serve its registered version (model owner only)."""
    from prover.market.actions import offer
    from prover.market.token import token_address

    with _on_market(rpc_url, (private_key, account, password_file), workdir, market) as (chain, contract):
        report = offer(
            chain,
            workdir,
            contract,
            name,
            token=token_address(chain, workdir, token),
            price=price,
            payee=payee,
            lock_stake=lock_stake,
            lock_window_s=lock_window,
        )
    if json_out:
        emit_json(
            report.__dict__
            | {"shape": report.shape.__dict__, "transactions": [t.__dict__ for t in report.transactions]}
        )
    else:
        show_table(f"offer on market {contract.address}", report.summary())


@market_app.command("retire")
@handles_errors
def market_retire_command(
    model: Annotated[int, typer.Option("--model", help="The model id.", min=1)],
    version: Annotated[int, typer.Option("--version", help="The serving version to retire.", min=1)],
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Stop a version serving: its open requests become refundable (model owner only)."""
    key = (private_key, account, password_file)
    _owner_call(
        rpc_url, key, workdir, market, f"retired version {version} of model {model}", "retireVersion", model, version
    )


@market_app.command("close")
@handles_errors
def market_close_command(
    model: Annotated[int, typer.Option("--model", help="The model id.", min=1)],
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Stop new requests for a model; open ones stay fulfillable (model owner only)."""
    key = (private_key, account, password_file)
    _owner_call(rpc_url, key, workdir, market, f"closed the offer of model {model}", "closeOffer", model)


def _owner_call(
    rpc_url: str | None, key: SigningKey, workdir: Path, market: str | None, title: str, function: str, *args: int
) -> None:
    """One owner transaction on the market, shown as a table."""
    from prover.evm.client import transact
    from prover.market.operations import Sent

    with _on_market(rpc_url, key, workdir, market) as (chain, contract):
        sent = Sent.of(transact(chain, contract, function, *args))
    show_table(title, [_sent("tx", sent)])


@market_app.command("status")
@handles_errors
def market_status_command(
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Requests by status, what the market holds per token, and your credits (no key needed)."""
    from prover.market.status import market_status

    with _on_market(rpc_url, None, workdir, market) as (chain, contract):
        status = market_status(chain, workdir, contract)
    if json_out:
        emit_json(status.document())
    else:
        show_table(f"InferenceMarket {contract.address} on chain {chain.chain_id}", status.summary())


@app.command("request")
@handles_errors
def request_command(
    name: Annotated[str, typer.Argument(help="The circuit whose model to ask (its input scale encodes --input).")],
    input_file: Annotated[Path, typer.Option("--input", help="One inference's input (ezkl input JSON).")],
    prover_fee: Annotated[str, typer.Option(help="What the prover earns on top of the price, in token units.")] = "0",
    deadline: Annotated[int, typer.Option(help="Seconds the request stays fulfillable.", min=1)] = 600,
    model: Annotated[
        Optional[int], typer.Option("--model", help="Model id; default: the one this workdir registered NAME as.")
    ] = None,
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Pay for one proven inference: approve the escrow, request, print the request id."""
    from prover.market.actions import request

    with _on_market(rpc_url, (private_key, account, password_file), workdir, market) as (chain, contract):
        report = request(
            chain, workdir, contract, name, input_file, model_id=model, prover_fee=prover_fee, ttl_s=deadline
        )
    if json_out:
        emit_json({"request_id": report.request_id, "model_id": report.model_id, "tx_hash": report.sent.tx_hash})
    else:
        show_table(f"requested an inference of {name}", report.summary())


@app.command("result")
@handles_errors
def result_command(
    request_id: RequestIdArg,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until it is fulfilled, refunded or expired (default).")
    ] = True,
    timeout: Annotated[
        Optional[float], typer.Option(help="Stop waiting after this many seconds (default: its deadline).", min=0)
    ] = None,
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """A request's proven outputs and the transaction that settled it, once it is settled (no key needed).

    Exit 0 when fulfilled (or still open with --no-wait or --timeout), 1 when refunded or expired.
    """
    from prover.market.actions import check_request_id, result
    from prover.market.operations import wait_for_settlement

    with _on_market(rpc_url, None, workdir, market) as (chain, contract):
        check_request_id(chain, contract, request_id)
        if wait:
            with err.status(f"waiting for request {request_id}: fulfilled, refunded or expired", spinner="dots"):
                wait_for_settlement(chain, contract, request_id, timeout)
        names = sorted(path.parent.name for path in (workdir / "circuits").glob("*/manifest.json"))
        report = result(chain, workdir, contract, request_id, names)
    if json_out:
        emit_json(report.document())
    else:
        show_table(f"request {request_id}", _result_rows(report))
    if report.state in ("refunded", "expired"):
        raise typer.Exit(1)


def _result_rows(report: ResultReport) -> list[tuple[str, str]]:
    rows = [
        ("request", f"{report.request.request_id}: model {report.request.model_id} version {report.request.version}"),
        ("status", report.state),
    ]
    values = report.values()
    if report.state == "fulfilled":
        shown = ", ".join(f"{v:.6g}" for v in values) if values is not None else ", ".join(map(str, report.outputs))
        rows.append(("outputs", shown + ("" if values is not None else " (fixed point; no local circuit to scale)")))
    elif report.state == "open":
        rows.append(("deadline", str(report.request.deadline)))
    elif report.state == "expired":
        rows.append(("next", f"its deadline passed unfulfilled: `prover refund {report.request.request_id}`"))
    if report.tx_hash:
        rows.append(("tx", report.tx_hash))
    return rows


@app.command("refund")
@handles_errors
def refund_command(
    request_id: RequestIdArg,
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Credit an unfulfilled request's escrow back to its requester (past its deadline, or its version retired)."""
    from prover.market.operations import refund_request

    with _on_market(rpc_url, (private_key, account, password_file), workdir, market) as (chain, contract):
        sent = refund_request(chain, contract, request_id)
    show_table(f"refunded request {request_id}", [_sent("tx", sent), ("next", "the requester runs `prover withdraw`")])


@app.command("withdraw")
@handles_errors
def withdraw_command(
    token: TokenOpt = None,
    market: MarketOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Pay out your credit on the market (earnings, refunds, returned stakes) in one token."""
    from prover.market.contract import from_units, token_contract, token_decimals
    from prover.market.operations import withdraw_credit
    from prover.market.token import token_address

    with _on_market(rpc_url, (private_key, account, password_file), workdir, market) as (chain, contract):
        address = token_address(chain, workdir, token)
        decimals = token_decimals(chain, token_contract(chain, workdir, address))
        amount, sent = withdraw_credit(chain, contract, address)
    shown = f"{from_units(amount, decimals)} ({amount:,} units of {address})"
    show_table("withdrawn", [("amount", shown), _sent("tx", sent)])


@token_app.command("deploy")
@handles_errors
def token_deploy_command(
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Deploy the test stablecoin (tUSD, 6 decimals, a public faucet) on a dev chain."""
    from prover.market.token import deploy_test_token

    with _on_chain(rpc_url, (private_key, account, password_file)) as chain:
        token = deploy_test_token(chain, workdir)
    stdout.print(token.address)


@token_app.command("mint")
@handles_errors
def token_mint_command(
    amount: Annotated[str, typer.Option(help="Amount in token units (e.g. 100).")],
    to: Annotated[Optional[str], typer.Option(help="Recipient; default: the signer.")] = None,
    token: TokenOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Mint test stablecoins from the faucet (dev chains only)."""
    from prover.market.contract import to_units, token_contract, token_decimals
    from prover.market.token import mint, token_address

    with _on_chain(rpc_url, (private_key, account, password_file)) as chain:
        contract = token_contract(chain, workdir, token_address(chain, workdir, token))
        recipient = to or chain.address
        sent = mint(chain, contract, recipient, to_units(amount, token_decimals(chain, contract)))
    show_table(f"minted {amount} to {recipient}", [_sent("tx", sent)])
