"""Proof commands: prove, verify (off-chain or through the deployed verifier), prove-batch.

`verify` exits 0 if the proof verifies, 1 if a well-formed proof does not, 2 if it is not
a proof for the circuit at all. `prove-batch` exits 0 if every input was proved, 1 if any
input failed (each failure is one line on stderr and an entry in --json's "failed"), 2
for what stops the whole batch (no such folder, no inputs, circuit not built).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from prover.cli.base import (
    AccountOpt,
    BackendOpt,
    JsonOpt,
    KeyOpt,
    PasswordFileOpt,
    RayAddressOpt,
    RpcOpt,
    WorkdirOpt,
    app,
    emit_json,
    handles_errors,
    ray_address_for,
    signer,
)
from prover.cli.render import RichReporter, err, show_table, stdout, warn
from prover.errors import ChainError, ProverError
from prover.pipeline.srs import DEV_SRS_WARNING
from prover.proving.batch import BatchResult, list_inputs, prove_batch
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.memory import MIB, usable_cores

if TYPE_CHECKING:
    from prover.proving.ray_backend import FleetReport, RayBackend

SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def warn_dev_srs(circuit: Circuit) -> None:
    if circuit.srs.kind == "dev":
        warn(DEV_SRS_WARNING)


@app.command("prove")
@handles_errors
def prove_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    input_file: Annotated[Path, typer.Option("--input", help='Input in ezkl JSON: {"input_data": [[...]]}.')],
    out: Annotated[
        Optional[Path], typer.Option(help="Where to write the proof (default circuits/NAME/proof.json).")
    ] = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Prove one inference; prints the outputs, what they decide (with units), and the proof's path, size, time."""
    from prover.pipeline.readout import readouts

    circuit = open_circuit(name, workdir)
    warn_dev_srs(circuit)
    with err.status("proving", spinner="dots"):
        result = circuit.prove(input_file, out)
    names = output_names(circuit)
    decided = readouts(circuit.manifest, result.outputs)
    document = {
        "proof": str(result.proof_path),
        "outputs": result.outputs,
        "output_names": names,
        "decisions": [[{"label": label, "value": value} for label, value in lines] for lines in decided],
        "proof_bytes": result.proof_bytes,
        "file_bytes": result.file_bytes,
        "prove_seconds": round(result.prove_seconds, 4),
    }
    if json_out:
        emit_json(document)
        return
    show_table(
        f"proof for {name}",
        [
            *((label, shown_values(tensor)) for label, tensor in zip(names, result.outputs, strict=False)),
            *(
                (f"{label} (inference {index + 1})" if len(decided) > 1 else label, value)
                for index, lines in enumerate(decided)
                for label, value in lines
            ),
            ("proof", str(result.proof_path)),
            ("size", f"{result.proof_bytes:,} bytes of proof ({result.file_bytes:,} bytes of JSON)"),
            ("proving time", f"{result.prove_seconds:.3f} s"),
        ],
    )


def output_names(circuit: Circuit) -> list[str]:
    """The ONNX graph's output names (circuits built before they were recorded: numbered)."""
    recorded = circuit.info.output_names
    return recorded or [f"output {index}" for index in range(len(circuit.info.output_scales))]


def shown_values(values: list[float], limit: int = 16) -> str:
    """One output tensor's values, the first `limit` of a long one."""
    shown = ", ".join(f"{value:.6g}" for value in values[:limit])
    return shown + (f", … ({len(values)} values)" if len(values) > limit else "")


@app.command("verify")
@handles_errors
def verify_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    proof: Annotated[
        Optional[Path],
        typer.Option(help="Proof JSON (default: circuits/NAME/proof.json, where `prover prove` writes)."),
    ] = None,
    onchain: Annotated[bool, typer.Option("--onchain", help="Call the deployed Solidity verifier instead.")] = False,
    reusable: Annotated[
        bool, typer.Option(help="With --onchain: ezkl's reusable verifier + this model's VKA.")
    ] = False,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    account: AccountOpt = None,
    password_file: PasswordFileOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Exit 0 if the proof verifies, 1 if a well-formed proof does not, 2 if it is not a proof for NAME."""
    circuit = open_circuit(name, workdir)
    warn_dev_srs(circuit)
    if proof is None:
        proof = circuit.paths.default_proof
        if not proof.exists():
            raise ProverError(
                f"no proof of {name} at {proof}",
                hint=f"make one with `prover prove {name} --input FILE`, or pass --proof FILE",
            )
    if onchain:
        from prover.evm.client import connect
        from prover.evm.verifier import deployed_verifier, ensure_verifier, verify_onchain

        parsed = circuit.read_proof(proof)
        with connect(rpc_url, signer(private_key, account, password_file), log_dir=circuit.paths.root) as chain:
            if chain.account is None:  # read-only: the verifier this workdir deployed there, or a clear refusal
                found = deployed_verifier(chain, circuit, reusable)
                if found is None:
                    raise ChainError(
                        f"no verifier of {name} recorded on chain {chain.chain_id} by this workdir",
                        hint=f"deploy one: `prover deploy {name} --rpc-url URL --account NAME` (or --private-key)",
                    )
                address = found.address
            else:
                address = ensure_verifier(chain, circuit, reusable).address
            onchain_result = verify_onchain(chain, circuit, parsed, address=address, reusable=reusable)
        valid, reason = onchain_result.valid, None
        if json_out:
            emit_json(
                {
                    "valid": valid,
                    "verify_gas": onchain_result.gas,
                    "verifier": address,
                    "chain_id": chain.chain_id,
                    "proof": str(proof),
                }
            )
        elif valid:
            stdout.print(
                f"[green]valid[/] on chain {chain.chain_id}: verifier {address}, verifyProof gas {onchain_result.gas:,}"
            )
    else:
        result = circuit.verify(proof)
        valid, reason = result.valid, result.reason
        if json_out:
            emit_json(
                {"valid": valid, "verify_seconds": round(result.seconds, 4), "proof": str(proof), "reason": reason}
            )
        elif result.valid:
            stdout.print(f"[green]valid[/] proof for {name} ({result.seconds * 1000:.0f} ms)")
    if not valid:
        if not json_out:
            stdout.print(f"[red]invalid[/] proof for {name}: it does not verify" + (f" ({reason})" if reason else ""))
        raise typer.Exit(1)


def parse_bytes(text: str) -> int:
    """`123456`, `512M`, `1.5G` (binary units) -> bytes; anything else is a ProverError."""
    match = SIZE.match(text)
    if match is None:
        raise ProverError(f"--memory-limit {text!r} is not a size", hint="give bytes, or a K/M/G suffix: 512M, 2G")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


@app.command("prove-batch")
@handles_errors
def prove_batch_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    inputs: Annotated[Path, typer.Option("--inputs", help="Folder of ezkl input JSON files, one sample each.")],
    workers: Annotated[
        Optional[int],
        typer.Option(
            help="Worker processes (default: one per core, measured fastest; lowered if memory is short). "
            "With --backend ray: the most provers per node (default: one per CPU the node gives Ray)."
        ),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(help="Where proofs go, as <input stem>.proof.json (default circuits/NAME/proofs/)."),
    ] = None,
    memory_limit: Annotated[
        Optional[str],
        typer.Option(
            "--memory-limit", help="Memory the workers may use, bytes or 512M/2G (default: what is available)."
        ),
    ] = None,
    backend: BackendOpt = "pool",
    ray_address: RayAddressOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Prove every *.json input in a folder with a process pool (keys loaded once per worker) or on Ray."""
    limit = parse_bytes(memory_limit) if memory_limit is not None else None
    # One single-threaded worker per core: on this 2-core machine, fee x 120 inputs made
    # 324-353 proofs/min with 2 workers x 1 thread, 231-249 with 1 worker x 2 threads.
    requested = workers if workers is not None else usable_cores()
    circuit = open_circuit(name, workdir)
    files = list_inputs(inputs)
    warn_dev_srs(circuit)
    reporter = RichReporter()
    if backend == "ray" and limit is not None:
        raise ProverError(
            "--memory-limit sizes the local pool; a Ray cluster sizes provers from each node's memory",
            hint="drop --memory-limit; what Ray may use of a node is set when the node starts (docs/cluster.md)",
        )
    with proving_backend(backend, ray_address, workers, len(files), reporter) as chosen:
        result = prove_batch(
            circuit, files, out or circuit.paths.root / "proofs", requested, reporter, limit, backend=chosen
        )
        fleets = chosen.reports() if chosen is not None else []
    if json_out:
        emit_json(_document(result, backend, fleets))
    else:
        _show_summary(name, result, fleets)
    if result.failed:
        raise typer.Exit(1)


@contextlib.contextmanager
def proving_backend(
    kind: str, ray_address: str | None, workers: int | None, inputs: int, reporter: RichReporter
) -> Iterator[RayBackend | None]:
    """The Ray backend for `--backend ray` (closed after the batch); None for the local pool."""
    address = ray_address_for(kind, ray_address)
    if kind != "ray":
        yield None
        return
    from prover.proving.ray_backend import RayBackend, RaySettings

    if workers is not None and workers < 1:
        raise ProverError(
            f"--workers must be at least 1, not {workers}",
            hint="with --backend ray it is the most provers per node; leave it out for one per CPU",
        )
    settings = RaySettings(address=address, actors_per_node=workers, max_provers=inputs)
    chosen = RayBackend(settings, reporter)
    try:
        yield chosen
    finally:
        chosen.close()


def _document(result: BatchResult, backend: str, fleets: list[FleetReport]) -> dict[str, object]:
    plan = result.plan
    return {
        "backend": backend,
        **({"ray": [_fleet_document(fleet) for fleet in fleets]} if fleets else {}),
        "proofs": len(result.proved),
        "failed": [{"input": str(item.input), "error": item.error} for item in result.failed],
        "workers": plan.workers,
        "requested_workers": plan.requested,
        "threads_per_worker": plan.threads,
        "seconds": round(result.seconds, 3),
        "proofs_per_minute": round(result.proofs_per_minute, 1),
        "mean_prove_seconds": round(result.mean_prove_seconds, 4),
        "predicted_worker_bytes": plan.predicted_worker_bytes,
        "measured_worker_bytes": result.measured_worker_bytes,
        "available_bytes": plan.available_bytes,
        "out": str(result.out),
    }


def _fleet_document(fleet: FleetReport) -> dict[str, object]:
    return {
        "circuit": fleet.circuit,
        "nodes": fleet.nodes,
        "provers": fleet.actors,
        "threads_per_prover": fleet.threads,
        "predicted_prover_bytes": fleet.predicted_actor_bytes,
        "cold_start_seconds": round(fleet.cold_start_seconds, 3),
        "pulled_bytes": sum(stage.pulled_bytes for stage in fleet.staging),
        "proofs_per_node": dict(fleet.proofs_per_node),
        "retried": fleet.retried,
        "restarted": fleet.restarted,
        "retired": fleet.retired,
    }


def _show_summary(name: str, result: BatchResult, fleets: list[FleetReport]) -> None:
    show_table(
        f"prove-batch {name}",
        [
            ("proofs", f"{len(result.proved)} in {result.out}"),
            ("failures", str(len(result.failed))),
            ("wall time", f"{result.seconds:.2f} s"),
            ("throughput", f"{result.proofs_per_minute:.1f} proofs/min (wall clock, whole batch)"),
            ("mean prove time", f"{result.mean_prove_seconds:.3f} s per proof"),
            *(_fleet_rows(fleets) if fleets else _pool_rows(result)),
        ],
    )


def _pool_rows(result: BatchResult) -> list[tuple[str, str]]:
    plan = result.plan
    return [
        ("workers", f"{plan.workers} x {plan.threads} thread(s) (requested {plan.requested})"),
        (
            "memory per worker",
            f"predicted {plan.predicted_worker_bytes / MIB:.0f} MiB, measured "
            f"{result.measured_worker_bytes / MIB:.0f} MiB; {plan.available_bytes / MIB:.0f} MiB available",
        ),
    ]


def _fleet_rows(fleets: list[FleetReport]) -> list[tuple[str, str]]:
    rows = []
    for fleet in fleets:
        per_node = ", ".join(str(count) for _node, count in sorted(fleet.proofs_per_node.items()))
        rows += [
            ("workers", f"{fleet.actors} Ray prover(s) x {fleet.threads} thread(s) on {fleet.nodes} node(s)"),
            ("proofs per node", per_node or "none"),
            ("memory per prover", f"predicted {fleet.predicted_actor_bytes / MIB:.0f} MiB"),
            (
                "cold start",
                f"{fleet.cold_start_seconds:.2f} s to stage, "
                f"{sum(stage.pulled_bytes for stage in fleet.staging) / MIB:.1f} MiB pulled into node caches",
            ),
            (
                "retries",
                f"{fleet.retried} task(s) retried; provers: {fleet.restarted} restarted, {fleet.retired} retired",
            ),
        ]
    return rows
