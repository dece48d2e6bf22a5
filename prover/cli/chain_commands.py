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
from prover.cli.render import RichReporter, demo_table, err, show_table, stdout, warn
from prover.errors import ChainError, ProverError
from prover.proving.circuit import open_circuit

if TYPE_CHECKING:
    from prover.consumers.base import Consumer

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
            "--mock-verifier", help="Pin the consumer to a verifier that accepts anything (dev chain 31337 only)."
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
def node_command(workdir: WorkdirOpt = Path(".")) -> None:
    """Run the pinned anvil on 127.0.0.1 until Ctrl-C, for multi-command sessions."""
    from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode

    with AnvilNode(workdir / "anvil.log") as node:
        err.print(f"anvil on [bold]{node.rpc_url}[/] (chain {node.chain_id}); dev key {DEV_PRIVATE_KEY}")
        err.print("Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@app.command("demo")
@handles_errors
def demo_command(
    name: Annotated[str, typer.Argument(help="Consumer whose story to run (see `prover consumers`).")] = "fee",
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Folder for circuits/ and out/.")] = Path(".demo"),
    json_out: JsonOpt = False,
) -> None:
    """The whole story on an embedded anvil: for fee, deploy, calm then volatile swaps, prove, update the fee."""
    from prover.consumers import get_consumer
    from prover.consumers.base import Demonstrable

    consumer = get_consumer(name)
    if not isinstance(consumer, Demonstrable):
        raise ProverError(f"consumer {name!r} has no demo", hint="`prover demo fee` or `prover demo digits`")
    report = consumer.demo(workdir, RichReporter())
    if json_out:
        emit_json(report.document)
        return
    stdout.print(demo_table(report.title, report.columns, report.rows))
    for fact in report.facts:
        stdout.print(fact)
