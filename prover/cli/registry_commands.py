"""`prover register / audit / revoke / allow / disallow`: a model's record in the on-chain registry.

Like the other on-chain commands they take `--rpc-url` and `--private-key` (an embedded
anvil without them, which forgets everything when the command ends: use `prover node`
or a real RPC to keep a registry between commands). `--registry ADDRESS` names a registry;
by default the workdir's (`deployments/<chainId>.json`) is used, else the chain's, which
every workdir on that chain shares (`$PROVER_HOME/registries/<chainId>.json`, see
`prover.registry.home`), and `register` deploys one on the chain's first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
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
from prover.cli.render import audit_table, show_table, stdout
from prover.errors import AuditMismatch, ProverError
from prover.proving.circuit import Circuit, open_circuit

if TYPE_CHECKING:
    from prover.evm.client import Chain

NameArg = Annotated[str, typer.Argument(help="Circuit name (built in the workdir).")]
RegistryOpt = Annotated[
    Optional[str], typer.Option(help="Registry address; default: the workdir's, else the one shared on the chain.")
]
VersionOpt = Annotated[Optional[int], typer.Option(help="Version number; default: the model's latest.")]
ModelOpt = Annotated[
    Optional[int],
    typer.Option("--model", help="Model id in the registry; default: the one this workdir registered NAME as."),
]


@app.command("register")
@handles_errors
def register_command(
    name: NameArg,
    parent: Annotated[
        Optional[int], typer.Option(help="Version this one derives from (0: none); default: the model's latest.")
    ] = None,
    registry: RegistryOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Register the built artifacts' hashes, lineage and verifier as the model's next version."""
    from prover.evm.client import connect
    from prover.registry.contract import open_registry
    from prover.registry.versions import register

    circuit = open_circuit(name, workdir)
    with connect(rpc_url, signer(private_key, account, password_file), log_dir=circuit.paths.root) as chain:
        contract = open_registry(chain, workdir, registry, deploy_if_missing=True)
        result = register(chain, contract, circuit, parent=parent)
    document = {"chain_id": chain.chain_id, **result.__dict__}
    if json_out:
        emit_json(document)
        return
    show_table(
        f"registered {name} on chain {chain.chain_id}",
        [
            ("registry", result.registry),
            ("model", str(result.model_id)),
            ("version", str(result.version)),
            ("parent", str(result.parent) if result.parent else "none"),
            ("verifier", result.verifier),
            (
                "gas",
                f"addVersion {result.register_gas:,}"
                + (f", createModel {result.create_gas:,}" if result.create_gas else ""),
            ),
        ],
    )


@app.command("audit")
@handles_errors
def audit_command(
    name: NameArg,
    version: VersionOpt = None,
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build afresh from the ONNX and data (scratch folder) and audit that.")
    ] = False,
    srs: Annotated[
        Optional[Path], typer.Option(help="--rebuild: the registered SRS file; default: the dev SRS, as build.")
    ] = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Recompute every local hash and compare with the on-chain record; exit 1 on any mismatch.

    A third party with the files audits someone else's registration with --registry and --model.
    --rebuild hashes a fresh build from the ONNX and data instead (a reference model's from
    its seeded recipe), so the registered settings and vk must follow from them.
    """
    from prover.registry.versions import audit

    if srs is not None and not rebuild:
        raise ProverError("--srs is for --rebuild", hint=f"prover audit {name} --rebuild --srs FILE")
    rebuilt = None
    with _model(
        name, workdir, registry, model, rpc_url, signer(private_key, account, password_file), version
    ) as target:
        model_id, chosen = target.model_id, target.version
        if rebuild:
            from prover.cli.render import RichReporter
            from prover.pipeline.reproduce import rebuild_circuit
            from prover.registry.rebuild import audit_rebuild

            def build_again(scratch: Path, srs_file: Optional[Path]) -> Circuit:
                return rebuild_circuit(target.circuit, scratch, srs=srs_file, reporter=RichReporter())

            rebuilt = audit_rebuild(target.chain, target.registry, model_id, chosen, build_again, srs)
            report = rebuilt.audit
        else:
            report = audit(target.chain, target.registry, target.circuit, model_id, chosen)
    if json_out:
        emit_json(rebuilt.describe() if rebuilt else report.describe())
    else:
        stdout.print(audit_table(name, report))
        for line in rebuilt.notes() if rebuilt else []:
            stdout.print(line)
    if report.mismatched:
        what = f"{name} rebuilt from its ONNX and data" if rebuilt else name
        hint = None
        if rebuilt:
            hint = "the registered artifacts were not built from these inputs by this toolkit"
            hint = "pass the registered SRS with --srs" if "srsHash" in report.mismatched else hint
        raise AuditMismatch(f"{what} differs from its on-chain record in: {', '.join(report.mismatched)}", hint=hint)


@app.command("revoke")
@handles_errors
def revoke_command(
    name: NameArg,
    version: VersionOpt = None,
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Revoke a version: consumers with the registry check refuse its proofs from now on."""
    from prover.registry import access

    with _model(
        name, workdir, registry, model, rpc_url, signer(private_key, account, password_file), version
    ) as target:
        model_id, chosen = target.model_id, target.version
        gas = access.revoke(target.chain, target.registry, model_id, chosen)
    _done(
        {"model_id": model_id, "version": chosen, "revoked": True, "gas_used": gas},
        f"revoked {name} model {model_id} version {chosen}",
        json_out,
    )


@app.command("allow")
@handles_errors
def allow_command(
    name: NameArg,
    accounts: Annotated[Optional[list[str]], typer.Argument(help="Addresses that may consume the model.")] = None,
    everyone: Annotated[bool, typer.Option("--everyone", help="Lift the restriction: anyone may consume it.")] = False,
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Add addresses to the model's allowlist (the model is then restricted to it), or open it to everyone."""
    from prover.registry import access

    if everyone == bool(accounts):
        raise ProverError("give addresses or --everyone (not both)", hint="prover allow fee 0xabc... 0xdef...")
    checked = access.checked_addresses(accounts or [])
    with _model(name, workdir, registry, model, rpc_url, signer(private_key, account, password_file)) as target:
        chain, contract, model_id = target.chain, target.registry, target.model_id
        if everyone:
            gas = access.open_to_everyone(chain, contract, model_id)
        else:
            gas = access.allow(chain, contract, model_id, checked)
    shown = "everyone" if everyone else ", ".join(accounts or [])
    _done(
        {"model_id": model_id, "allowed": accounts or "everyone", "gas_used": gas},
        f"{name} (model {model_id}) may now be used by {shown}",
        json_out,
    )


@app.command("disallow")
@handles_errors
def disallow_command(
    name: NameArg,
    accounts: Annotated[list[str], typer.Argument(help="Addresses to take off the allowlist.")],
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Take addresses off the model's allowlist (and restrict the model to the allowlist)."""
    from prover.registry import access

    checked = access.checked_addresses(accounts)
    with _model(name, workdir, registry, model, rpc_url, signer(private_key, account, password_file)) as target:
        gas = access.disallow(target.chain, target.registry, target.model_id, checked)
        model_id = target.model_id
    _done(
        {"model_id": model_id, "disallowed": accounts, "gas_used": gas},
        f"{name} (model {model_id}) may no longer be used by {', '.join(accounts)}",
        json_out,
    )


@app.command("transfer")
@handles_errors
def transfer_command(
    name: NameArg,
    new_owner: Annotated[str, typer.Argument(help="The account offered the model (it must accept).")],
    model: ModelOpt = None,
    registry: RegistryOpt = None,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Offer the model to another account; it becomes the owner only when it runs `prover accept`."""
    from prover.registry import access

    (checked,) = access.checked_addresses([new_owner])
    with _model(name, workdir, registry, model, rpc_url, signer(private_key, account, password_file)) as target:
        contract, model_id = target.registry, target.model_id
        gas = access.transfer(target.chain, contract, model_id, checked)
    _done(
        {"model_id": model_id, "pending_owner": checked, "gas_used": gas},
        f"offered {name} (model {model_id}) to {checked}; it must run `prover accept {name} --registry "
        f"{contract.address} --model {model_id}`",
        json_out,
    )


@app.command("accept")
@handles_errors
def accept_command(
    name: NameArg,
    registry: Annotated[str, typer.Option(help="The registry holding the model.")],
    model: Annotated[int, typer.Option("--model", help="The model id offered to you.")],
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Accept a model offered to your account; `prover register NAME` then adds versions to it."""
    from prover.evm.client import connect
    from prover.registry import access
    from prover.registry.contract import open_registry

    circuit = open_circuit(name, workdir)
    with connect(rpc_url, signer(private_key, account, password_file), log_dir=circuit.paths.root) as chain:
        contract = open_registry(chain, workdir, registry)
        gas = access.accept(chain, contract, workdir, name, model)
    _done(
        {"model_id": model, "owner": chain.address, "gas_used": gas},
        f"{chain.address} now owns model {model} ({name})",
        json_out,
    )


@dataclass(frozen=True)
class _Target:
    """A registered model version on a connected chain, and the local circuit behind it."""

    chain: Chain
    registry: Any
    circuit: Circuit
    model_id: int
    version: int


@contextlib.contextmanager
def _model(
    name: str,
    workdir: Path,
    registry: str | None,
    model_id: int | None,
    rpc_url: str | None,
    key: Any,
    version: int | None = None,
) -> Iterator[_Target]:
    """Connected, with the registry open and NAME's model id (or the one given) and version
    (or the latest) found: what every command after `register` starts from."""
    from prover.evm.client import connect
    from prover.registry.contract import find_model, open_registry, registry_of

    circuit = open_circuit(name, workdir)
    with connect(rpc_url, key, log_dir=circuit.paths.root) as chain:
        # the registry NAME was registered in here, before the workdir's default registry
        contract = open_registry(chain, workdir, registry or registry_of(chain, workdir, name))
        found = find_model(chain, contract, workdir, name, model_id=model_id, version=version)
        yield _Target(chain, contract, circuit, found.model_id, found.version)


def _done(document: dict[str, Any], message: str, json_out: bool) -> None:
    if json_out:
        emit_json(document)
    else:
        stdout.print(message + f" ({document['gas_used']:,} gas)")
