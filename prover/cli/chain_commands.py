"""On-chain commands: verifier, deploy, submit, consumers, node and demo.

Each takes `--rpc-url` (or $PROVER_RPC_URL) and `--private-key` (or $PROVER_PRIVATE_KEY);
without an RPC URL they run against an embedded anvil that lives as long as the command.
`deploy` and `submit` drive any registered consumer (`prover consumers` lists them).
Each command imports the chain side (web3) when it runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from prover.cli.base import (
    AccountOpt,
    JsonOpt,
    KeyOpt,
    PasswordFileOpt,
    RpcOpt,
    WorkdirOpt,
    app,
    emit_json,
    handles_errors,
    signer,
)
from prover.cli.render import RichReporter, err, print_demo, show_table, stdout, warn
from prover.errors import ChainError, ProverError
from prover.proving.circuit import open_circuit

if TYPE_CHECKING:
    from prover.consumers.base import Consumer, DemoReport

ConsumerOpt = Annotated[
    Optional[str],
    typer.Option(
        "--consumer", help="Consumer to drive (default: the one named like the circuit; see `prover consumers`)."
    ),
]


def _warn_embedded(rpc_url: str | None) -> None:
    if rpc_url is None:
        warn("embedded anvil: it stops when this command ends (pass --rpc-url to keep state)")


@app.command("verifier")
@handles_errors
def verifier_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    reusable: Annotated[bool, typer.Option(help="ezkl's reusable verifier + a per-model VK artifact.")] = False,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Render the Solidity verifier with ezkl and compile it with the pinned solc (offline)."""
    from prover.evm.solc import EIP170_LIMIT
    from prover.evm.verifier import build_verifier

    circuit = open_circuit(name, workdir)
    with err.status("rendering and compiling the verifier", spinner="dots"):
        build = build_verifier(circuit, reusable)
    document = {
        "name": name,
        "contract": build.contract,
        "source": str(build.source),
        "artifact": str(build.artifact),
        "runtime_bytes": build.runtime_size,
        "limit_bytes": EIP170_LIMIT,
        "fits": build.fits,
        "vka": str(build.vka) if build.vka else None,
    }
    if json_out:
        emit_json(document)
        return
    size = f"{build.runtime_size:,} / {EIP170_LIMIT:,} bytes ({build.runtime_size / EIP170_LIMIT:.0%})"
    show_table(
        f"verifier for {name}",
        [
            ("contract", build.contract),
            ("source", str(build.source)),
            ("artifact", str(build.artifact)),
            ("runtime size", size),
        ],
    )
    if not build.fits and not reusable:
        warn("over the 24,576-byte EIP-170 limit: use --reusable")


def _consumer_for(circuit: str, name: str | None) -> Consumer | None:
    """The consumer asked for by name, else the one named like the circuit, else none."""
    from prover.consumers import find_consumer, get_consumer

    return get_consumer(name) if name is not None else find_consumer(circuit)


@app.command("deploy")
@handles_errors
def deploy_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    consumer: ConsumerOpt = None,
    reusable: Annotated[bool, typer.Option(help="ezkl's reusable verifier + this model's VKA (no consumer).")] = False,
    mock_verifier: Annotated[
        bool,
        typer.Option(
            "--mock-verifier", help="Pin the consumer to a verifier that accepts anything (local dev chains only)."
        ),
    ] = False,
    registry: Annotated[
        Optional[str],
        typer.Option(
            help="Pin the consumer to this model registry (default: the one NAME is registered in here, if any)."
        ),
    ] = None,
    model: Annotated[
        Optional[int],
        typer.Option("--model", help="Pin the consumer to this model id (default: the one NAME is registered as)."),
    ] = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Deploy the circuit's verifier and, if a consumer goes with it, the consumer contract pinned to it.

    A consumer pinned to a registry uses the verifier of the model's registered version of
    this build (register first); every argument is checked before the first transaction.
    """
    from prover.consumers.base import Pin, deploy_consumer, pin_for
    from prover.evm.client import connect
    from prover.evm.verifier import deploy_mock_verifier, ensure_verifier

    circuit = open_circuit(name, workdir)
    driven = _consumer_for(name, consumer)
    if mock_verifier and (reusable or driven is None or registry is not None or model is not None):
        raise ProverError(
            "--mock-verifier stands in for the verifier of a consumer contract that checks no registry",
            hint="pass --consumer NAME (and no --reusable, --registry or --model)",
        )
    if (registry is not None or model is not None) and (reusable or driven is None):
        raise ProverError("--registry and --model pin a consumer contract", hint="pass --consumer NAME")
    _warn_embedded(rpc_url)
    with connect(rpc_url, signer(private_key, account, password_file), log_dir=circuit.paths.root) as chain:
        if driven is None or reusable:  # consumers call IHalo2Verifier's two-argument verifyProof
            pin, verifier = None, ensure_verifier(chain, circuit, reusable)
        elif mock_verifier:
            verifier = deploy_mock_verifier(chain, circuit)
            pin = Pin(verifier.address)
        else:
            pin, verifier = pin_for(chain, circuit, registry=registry, model_id=model)
        document: dict[str, Any] = {
            "chain_id": chain.chain_id,
            "verifier": verifier.address,
            "verifier_reused": verifier.reused,
            "verifier_deploy_gas": verifier.gas_used,
            "reusable": reusable,
            "mock_verifier": mock_verifier,
        }
        if driven is not None and pin is not None:
            deployed = deploy_consumer(chain, driven, circuit, pin)
            document |= {
                "consumer": driven.name,
                "contract": driven.contract,
                "address": deployed.address,
                "deploy_gas": deployed.gas_used,
                "registry": pin.registry if pin.model_id else "none",
                "model_id": pin.model_id or None,
            }
    if json_out:
        emit_json(document)
        return
    show_table(f"deployed {name} on chain {document['chain_id']}", [(k, str(v)) for k, v in document.items()])


@app.command("submit")
@handles_errors
def submit_command(
    name: Annotated[str, typer.Argument(help="Circuit name (its consumer: see `prover consumers`).")],
    consumer: ConsumerOpt = None,
    address: Annotated[
        Optional[str], typer.Option(help="Consumer contract address; default: the recorded one.")
    ] = None,
    input_file: Annotated[
        Optional[Path],
        typer.Option(
            "--input", help="Your input, for consumers whose chain state does not hold it (e.g. digits' image)."
        ),
    ] = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Prove over what the consumer contract expects now and send the proof to it."""
    from prover.consumers import consumer_names
    from prover.consumers.base import consumer_contract, submit
    from prover.evm.client import connect

    driven = _consumer_for(name, consumer)
    if driven is None:
        raise ChainError(
            f"no consumer contract for {name!r}", hint=f"name one with --consumer ({', '.join(consumer_names())})"
        )
    if rpc_url is None:
        raise ChainError(
            "submit needs the chain the consumer lives on",
            hint=f"start one with `prover node`, `prover deploy {name} --rpc-url URL`, then submit "
            "--rpc-url URL; or run `prover demo`",
        )
    circuit = open_circuit(name, workdir)
    with connect(rpc_url, signer(private_key, account, password_file), log_dir=circuit.paths.root) as chain:
        contract = consumer_contract(chain, driven, circuit, address)
        with err.status(f"proving over what {driven.contract} expects and submitting", spinner="dots"):
            done = submit(chain, driven, circuit, contract, circuit.paths.root / "submit.proof.json", input_file)
    if json_out:
        emit_json(done.document())
        return
    show_table(f"{driven.name}: accepted", driven.summary(done))


@app.command("consumers")
@handles_errors
def consumers_command(json_out: JsonOpt = False) -> None:
    """List the consumers `prover deploy` / `submit` / `demo` can drive."""
    from prover.consumers import consumer_names, get_consumer

    rows = [
        {"name": name, "contract": c.contract, "description": c.description}
        for name in consumer_names()
        if (c := get_consumer(name))
    ]
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        stdout.print(f"[bold]{row['name']:<8}[/] {row['contract']}: {row['description']}", soft_wrap=True)


@app.command("node")
@handles_errors
def node_command(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1; a busy one is an error.")
    ] = 8545,
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="The chain id the node reports.")] = 31337,
    block_time: Annotated[
        Optional[float],
        typer.Option("--block-time", help="Mine a block every S seconds (default: one block per transaction)."),
    ] = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Run the pinned anvil on 127.0.0.1 for multi-command sessions, until Ctrl-C, SIGTERM or SIGHUP.

    Prints the RPC URL, the chain id and every dev account the node funds, with its key
    (public keys of a dev chain: never use them anywhere else); the log goes to
    WORKDIR/anvil.log. Started in the background by a script (`prover node &`), it still
    stops on an explicit SIGINT, as anvil does.
    """
    import signal

    from prover.evm.node import ANVIL_DERIVATION_PATH, ANVIL_MNEMONIC, AnvilNode, client_version

    # A shell without job control starts `prover node &` with SIGINT ignored, which Python
    # keeps; a long-running node must still stop on `kill -INT`, so take SIGINT back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with AnvilNode(workdir / "anvil.log", port=port, chain_id=chain_id, block_time=block_time) as node:
            accounts = node.dev_accounts()
            document = {
                "rpc_url": node.rpc_url,
                "chain_id": node.chain_id,
                "port": node.port,
                "block_time": block_time,
                "client": client_version(node.w3),
                "mnemonic": ANVIL_MNEMONIC,
                "derivation_path": ANVIL_DERIVATION_PATH.format(index="N"),
                "accounts": [
                    {"index": index, "address": a.address, "private_key": a.private_key, "balance_wei": a.balance_wei}
                    for index, a in enumerate(accounts)
                ],
                "log": str(node.log_path),
            }
            if json_out:
                emit_json(document)
            else:
                mining = (
                    "automine (one block per transaction)" if block_time is None else f"a block every {block_time:g} s"
                )
                for label, value in (
                    ("RPC URL", node.rpc_url),
                    ("chain id", str(node.chain_id)),
                    ("mining", mining),
                    ("client", document["client"] or "unknown"),
                    ("log", str(node.log_path)),
                ):
                    stdout.print(f"{label:<9} {value}", soft_wrap=True, markup=False)
                stdout.print(f"\n{len(accounts)} dev accounts (index, address, balance, private key):", markup=False)
                for index, account in enumerate(accounts):
                    balance = f"{account.balance_wei / 10**18:g} ETH"
                    stdout.print(
                        f"({index}) {account.address} {balance} {account.private_key}", soft_wrap=True, markup=False
                    )
                stdout.print(f"mnemonic: {ANVIL_MNEMONIC}", soft_wrap=True, markup=False)
            if accounts:
                exports = f"PROVER_RPC_URL={node.rpc_url} PROVER_PRIVATE_KEY={accounts[0].private_key}"
                err.print(f"in another shell: export {exports}", soft_wrap=True, markup=False)
            err.print("Ctrl-C (or SIGTERM, SIGHUP) stops the node")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command("demo")
@handles_errors
def demo_command(
    name: Annotated[str, typer.Argument(help="Consumer whose story to run (see `prover consumers`).")] = "fee",
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Folder for circuits/ and out/.")] = Path(".demo"),
    json_out: JsonOpt = False,
) -> None:
    """The whole story on an embedded anvil: for fee, deploy, calm then volatile swaps, prove, update the fee;
    for market, offers, requests, one keeper pass, a callback, a refund and the owner's revenue; for credit,
    two borrowers priced from private features, a borrowed attestation refused, a privacy scan."""
    from prover.consumers import get_consumer
    from prover.consumers.base import Demonstrable

    if name == "market":
        from prover.keeper.demo import run_market_demo

        _show_demo(run_market_demo(workdir, RichReporter()), json_out)
        return
    consumer = get_consumer(name)
    if not isinstance(consumer, Demonstrable):
        raise ProverError(
            f"consumer {name!r} has no demo",
            hint="`prover demo fee`, `prover demo digits`, `prover demo credit` or `prover demo market`",
        )
    _show_demo(consumer.demo(workdir, RichReporter()), json_out)


def _show_demo(report: DemoReport, json_out: bool) -> None:
    if json_out:
        emit_json(report.document)
        return
    print_demo(report.title, report.columns, report.rows, report.facts)
