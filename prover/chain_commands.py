"""On-chain commands: verifier, deploy, submit, node and demo (verify --onchain lives with verify).

Each takes `--rpc-url` (or $PROVER_RPC_URL) and `--private-key` (or $PROVER_PRIVATE_KEY);
without an RPC URL they run against an embedded anvil that lives as long as the command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from prover.chain import DEV_PRIVATE_KEY, AnvilNode, Chain, connect
from prover.cli import JsonOpt, KeyOpt, RichReporter, RpcOpt, WorkdirOpt, app, emit_json, err, handles_errors, show_table
from prover.demo import run_demo
from prover.deployments import load_deployments
from prover.errors import ChainError
from prover.onchain import (
    PoolParams,
    deploy_fee_pool,
    deploy_reusable_verifier,
    deploy_verifier,
    fee_pool,
    submit_fee_update,
)
from prover.pipeline import open_circuit
from prover.registry import model_key, open_registry
from prover.solc import EIP170_LIMIT
from prover.verifier import build_verifier


def _warn_embedded(rpc_url: str | None) -> None:
    if rpc_url is None:
        RichReporter().warn("embedded anvil: it stops when this command ends (pass --rpc-url to keep state)")


@app.command("verifier")
@handles_errors
def verifier_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    reusable: Annotated[bool, typer.Option(help="ezkl's reusable verifier + a per-model VK artifact.")] = False,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Render the Solidity verifier with ezkl and compile it with the pinned solc (offline)."""
    paths, manifest = open_circuit(name, workdir)
    with err.status("rendering and compiling the verifier", spinner="dots"):
        build = build_verifier(paths, manifest, reusable)
    document = {"name": name, "contract": build.contract, "source": str(build.source),
                "artifact": str(build.artifact), "runtime_bytes": build.runtime_size,
                "limit_bytes": EIP170_LIMIT, "fits": build.fits, "vka": str(build.vka) if build.vka else None}
    if json_out:
        emit_json(document)
        return
    size = f"{build.runtime_size:,} / {EIP170_LIMIT:,} bytes ({build.runtime_size / EIP170_LIMIT:.0%})"
    show_table(f"verifier for {name}", [("contract", build.contract), ("source", str(build.source)),
                                        ("artifact", str(build.artifact)), ("runtime size", size)])
    if not build.fits and not reusable:
        RichReporter().warn("over the 24,576-byte EIP-170 limit: use --reusable")


@app.command("deploy")
@handles_errors
def deploy_command(
    name: Annotated[str, typer.Argument(help="Circuit name (fee also deploys the pool).")],
    reusable: Annotated[bool, typer.Option(help="ezkl's reusable verifier + this model's VKA (no pool).")] = False,
    registry: Annotated[Optional[str], typer.Option(
        help="Pin the pool to this model registry (default: the one fee is registered in here, if any).")] = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Deploy the circuit's verifier (and, for fee, the AdaptiveFeePool pinned to it)."""
    paths, manifest = open_circuit(name, workdir)
    _warn_embedded(rpc_url)
    with connect(rpc_url, private_key, log_dir=paths.root) as chain:
        verifier = (deploy_reusable_verifier if reusable else deploy_verifier)(chain, paths, manifest)
        document: dict[str, object] = {"chain_id": chain.chain_id, "verifier": verifier.address,
                                       "verifier_deploy_gas": verifier.gas_used, "reusable": reusable}
        if name == "fee" and not reusable:  # the pool calls IHalo2Verifier's two-argument verifyProof
            pinned = _pool_registry(chain, workdir, registry)
            pool = deploy_fee_pool(chain, workdir, verifier.address, manifest, PoolParams(), pinned)
            document |= {"pool": pool.address, "pool_deploy_gas": pool.gas_used, "registry": pinned or "none"}
    if json_out:
        emit_json(document)
        return
    show_table(f"deployed {name} on chain {document['chain_id']}", [(k, str(v)) for k, v in document.items()])


def _pool_registry(chain: Chain, workdir: Path, given: str | None) -> str | None:
    """The registry a new pool checks: the given one, else the one this workdir registered fee in."""
    if given is not None:
        return str(open_registry(chain, workdir, given).address)
    entry = load_deployments(workdir, chain.chain_id).get(model_key("fee"))
    return str(entry["registry"]) if entry else None


@app.command("submit")
@handles_errors
def submit_command(
    name: Annotated[str, typer.Argument(help="Only `fee`: the AdaptiveFeePool consumer.")],
    pool: Annotated[Optional[str], typer.Option(help="Pool address; default: the recorded one.")] = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Prove the fee model over the pool's observations and send updateFee."""
    if name != "fee":
        raise ChainError(f"no consumer contract for {name!r}", hint="`prover submit fee`")
    if rpc_url is None:
        raise ChainError("submit needs the chain the pool lives on",
                         hint="start one with `prover node`, `prover deploy fee --rpc-url URL`, then submit "
                              "--rpc-url URL; or run `prover demo`")
    paths, manifest = open_circuit(name, workdir)
    with connect(rpc_url, private_key, log_dir=paths.root) as chain:
        contract = fee_pool(chain, workdir, pool)
        with err.status("proving over the pool's observations and submitting", spinner="dots"):
            update = submit_fee_update(chain, contract, paths, manifest, paths.root / "submit.proof.json")
    if json_out:
        emit_json(update.__dict__)
        return
    show_table("fee update", [
        ("epoch", str(update.epoch)), ("fee", f"{update.old_fee_bps} -> {update.new_fee_bps} bps"),
        ("predicted volatility", f"{update.volatility:.4f} % per step"), ("updateFee gas", f"{update.gas_used:,}"),
        ("proving time", f"{update.prove_seconds:.3f} s"),
    ])


@app.command("node")
@handles_errors
def node_command(workdir: WorkdirOpt = Path(".")) -> None:
    """Run the pinned anvil on 127.0.0.1 until Ctrl-C, for multi-command sessions."""
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
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Folder for circuits/ and out/.")] = Path(".demo"),
    json_out: JsonOpt = False,
) -> None:
    """The whole story on an embedded anvil: deploy, calm then volatile swaps, prove, update the fee."""
    result = run_demo(workdir, RichReporter())
    if json_out:
        emit_json({"verifier": result.verifier, "pool": result.pool, "registry": result.registry,
                   "model_id": result.model_id, "version": result.version,
                   "verifier_deploy_gas": result.verifier_deploy_gas, "register_gas": result.register_gas,
                   "pool_deploy_gas": result.pool_deploy_gas,
                   "updates": [{"regime": r.regime, **r.update.__dict__} for r in result.rows]})
        return
    table = Table(title="AdaptiveFeePool on an embedded anvil", title_justify="left")
    for column in ("regime", "fee before", "fee after", "predicted vol", "verifyProof gas", "updateFee gas",
                   "proof bytes", "proving time"):
        table.add_column(column, justify="right")
    for row in result.rows:
        u = row.update
        table.add_row(row.regime, f"{u.old_fee_bps} bps", f"{u.new_fee_bps} bps", f"{u.volatility:.3f} %",
                      f"{u.verify_gas:,}" if u.verify_gas else "-", f"{u.gas_used:,}", f"{u.proof_bytes:,}",
                      f"{u.prove_seconds:.2f} s")
    err.print(table)
    err.print(f"fee is model {result.model_id} version {result.version} in registry {result.registry}")
    err.print(f"gas: verifier deploy {result.verifier_deploy_gas:,}, register {result.register_gas:,}, "
              f"pool deploy {result.pool_deploy_gas:,}")
