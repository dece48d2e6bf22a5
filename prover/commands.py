"""The commands behind `prover`: parse options, call one library function, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from models import get_model, model_names
from prover import ezkl_api
from prover.artifacts import CircuitPaths, Manifest, circuit_paths, load_manifest
from prover.chain import connect
from prover.cli import (
    JsonOpt, KeyOpt, MaxErrorOpt, MinAgreementOpt, ObjectiveOpt, RichReporter, RpcOpt, SettingsOpt, WorkdirOpt, app,
    emit_json, err, handles_errors, show_table, tuning_overrides,
)
from prover.config import CircuitConfig, Visibility, checked_config
from prover.errors import ProverError, UnknownModelError
from prover.onchain import deploy_reusable_verifier, deploy_verifier, deployed_verifier, verify_onchain
from prover.pipeline import UserModel, build_onnx, build_reference, open_circuit
from prover.proving import prove as prove_input
from prover.proving import verify as verify_proof
from prover.proving import write_input
from prover.srs import DEV_SRS_WARNING

VisOpt = Optional[Visibility]


@app.command("models")
@handles_errors
def models_command(workdir: WorkdirOpt = Path("."), json_out: JsonOpt = False) -> None:
    """List the reference models `prover build NAME` can build, and which are built in the workdir."""
    rows = []
    for name in model_names():
        model = get_model(name)
        built = circuit_paths(workdir, name).manifest.exists()
        rows.append({"name": name, "description": model.description, "input_shape": list(model.input_shape),
                     "decision": model.decision_name, "built": built})
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        state = "[green]built[/]" if row["built"] else "[dim]not built[/]"
        err.print(f"[bold]{row['name']:<8}[/] {row['description']}  [dim]input {row['input_shape']}, "
                  f"decision: {row['decision']}[/]  {state}")


@app.command("build")
@handles_errors
def build_command(
    name: Annotated[Optional[str], typer.Argument(help="Reference model name (see `prover models`).")] = None,
    onnx: Annotated[Optional[Path], typer.Option(help="Your own ONNX model instead of a reference one.")] = None,
    circuit_name: Annotated[Optional[str], typer.Option("--name", help="Circuit name for --onnx.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Calibration data for --onnx (ezkl input JSON).")] = None,
    holdout: Annotated[Optional[Path], typer.Option(help="Held-out data for the fidelity report (--onnx).")] = None,
    srs: Annotated[Optional[Path], typer.Option(help="Public SRS file; default: a cached, insecure dev SRS.")] = None,
    input_visibility: Annotated[VisOpt, typer.Option(help="public | private | hashed")] = None,
    output_visibility: Annotated[VisOpt, typer.Option(help="public | private | hashed")] = None,
    param_visibility: Annotated[VisOpt, typer.Option(help="fixed | hashed | private (off-chain only)")] = None,
    settings: SettingsOpt = None,
    max_error: MaxErrorOpt = None,
    min_agreement: MinAgreementOpt = None,
    objective: ObjectiveOpt = None,
    input_scale: Annotated[Optional[int], typer.Option(help="Input bits (manual); centre of the tuner's search.")] = None,
    param_scale: Annotated[Optional[int], typer.Option(help="Weight bits (manual; default: input scale).")] = None,
    decomp_base: Annotated[Optional[int], typer.Option(help="Decomposition base (manual).")] = None,
    decomp_legs: Annotated[Optional[int], typer.Option(help="Decomposition legs (manual).")] = None,
    inner_cols: Annotated[Optional[int], typer.Option(help="Inner columns (manual).")] = None,
    logrows: Annotated[Optional[int], typer.Option(help="Pin logrows (>= what the circuit needs).")] = None,
    offchain: Annotated[bool, typer.Option("--offchain", help="Not for on-chain use: allows private params.")] = False,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Export, tune (or size) settings, compile and set up; each stage reruns only if its inputs changed."""
    overrides = {key: value for key, value in {
        "input_visibility": input_visibility, "output_visibility": output_visibility,
        "param_visibility": param_visibility, "input_scale": input_scale, "param_scale": param_scale,
        "decomp_base": decomp_base, "decomp_legs": decomp_legs, "num_inner_cols": inner_cols,
        "logrows": logrows,
    }.items() if value is not None}
    overrides.update(tuning_overrides(settings, max_error, min_agreement, objective))
    if offchain:
        overrides["onchain"] = False
    reporter = RichReporter()
    if onnx is not None:
        if name is not None or circuit_name is None or data is None:
            raise ProverError("--onnx needs --name and --data, and no model argument",
                              hint="prover build --onnx model.onnx --name mymodel --data calib.json")
        config = checked_config(CircuitConfig(), overrides)
        manifest = build_onnx(circuit_name, workdir, UserModel(onnx, data, holdout), config, srs=srs, reporter=reporter)
    else:
        if name is None:
            raise ProverError("name a reference model or pass --onnx", hint="see `prover models`")
        if data is not None or holdout is not None:
            raise ProverError("--data and --holdout are for --onnx models; reference models bring their own")
        manifest = build_reference(name, workdir, overrides=overrides, srs=srs, reporter=reporter)
    paths = circuit_paths(workdir, manifest.name)
    if json_out:
        emit_json(_summary(manifest))
    else:
        err.print(f"built [bold]{manifest.name}[/] in {paths.root}")
        _print_fidelity(manifest)


@app.command("prove")
@handles_errors
def prove_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    input_file: Annotated[Path, typer.Option("--input", help="Input in ezkl JSON: {\"input_data\": [[...]]}.")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write the proof (default circuits/NAME/proof.json).")] = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Prove one inference; prints the rescaled outputs and the proof's path, size and time."""
    paths, manifest = open_circuit(name, workdir)
    _warn_dev_srs(manifest)
    with err.status("proving", spinner="dots"):
        result = prove_input(paths, manifest, input_file, out or paths.default_proof)
    document = {"proof": str(result.proof_path), "outputs": result.outputs, "proof_bytes": result.proof_bytes,
                "file_bytes": result.file_bytes, "prove_seconds": round(result.prove_seconds, 4)}
    if json_out:
        emit_json(document)
        return
    show_table(f"proof for {name}", [
        ("outputs", ", ".join(f"{v:.6g}" for tensor in result.outputs for v in tensor)),
        ("proof", str(result.proof_path)),
        ("size", f"{result.proof_bytes:,} bytes of proof ({result.file_bytes:,} bytes of JSON)"),
        ("proving time", f"{result.prove_seconds:.3f} s"),
    ])


@app.command("verify")
@handles_errors
def verify_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    proof: Annotated[Path, typer.Option(help="Proof JSON written by `prover prove`.")],
    onchain: Annotated[bool, typer.Option("--onchain", help="Call the deployed Solidity verifier instead.")] = False,
    reusable: Annotated[bool, typer.Option(help="With --onchain: ezkl's reusable verifier + this model's VKA.")] = False,
    rpc_url: RpcOpt = None,
    private_key: KeyOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Exit 0 if the proof verifies, 1 if a well-formed proof does not, 2 if it is not a proof for NAME."""
    paths, manifest = open_circuit(name, workdir)
    _warn_dev_srs(manifest)
    if onchain:
        valid = _verify_onchain(paths, manifest, proof, rpc_url, private_key, json_out, reusable)
    else:
        result = verify_proof(paths, manifest, proof)
        valid = result.valid
        if json_out:
            emit_json({"valid": result.valid, "verify_seconds": round(result.seconds, 4), "proof": str(proof)})
        elif result.valid:
            err.print(f"[green]valid[/] proof for {name} ({result.seconds * 1000:.0f} ms)")
    if not valid:
        if not json_out:
            err.print(f"[red]invalid[/] proof for {name}: it does not verify")
        raise typer.Exit(1)


def _verify_onchain(paths: CircuitPaths, manifest: Manifest, proof: Path, rpc_url: str | None,
                    private_key: str | None, json_out: bool, reusable: bool) -> bool:
    """Through the recorded verifier for this vk, else one deployed now (embedded: always)."""
    with connect(rpc_url, private_key, log_dir=paths.root) as chain:
        address = deployed_verifier(chain, paths, manifest, reusable)
        if address is None:
            deployer = deploy_reusable_verifier if reusable else deploy_verifier
            address = deployer(chain, paths, manifest).address
        result = verify_onchain(chain, paths, address, proof, reusable)
    if json_out:
        emit_json({"valid": result.valid, "verify_gas": result.gas, "verifier": address,
                   "chain_id": chain.chain_id, "proof": str(proof)})
    elif result.valid:
        err.print(f"[green]valid[/] on chain {chain.chain_id}: verifier {address}, verifyProof gas {result.gas:,}")
    return result.valid


@app.command("inspect")
@handles_errors
def inspect_command(
    name: Annotated[str, typer.Argument(help="Circuit name.")],
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Settings, logrows, rows, visibilities, key sizes and fidelity of a built circuit."""
    manifest = load_manifest(circuit_paths(workdir, name))
    assert manifest is not None
    summary = _summary(manifest)
    if json_out:
        emit_json(summary)
        return
    info = manifest.info
    rows = [
        ("source", manifest.source),
        ("ezkl", manifest.ezkl_version + ("" if manifest.ezkl_version == ezkl_api.EZKL_VERSION
                                          else f" [red](installed: {ezkl_api.EZKL_VERSION})[/]")),
        ("visibility", ", ".join(f"{k} {v}" for k, v in summary["visibilities"].items())),
    ]
    if info is not None:
        rows += [
            ("logrows / rows", f"{info.logrows} / {info.num_rows:,}"),
            ("scales", f"inputs {info.input_scales}, params {info.param_scale}, outputs {info.output_scales}"),
            ("layout", f"{manifest.config.settings}: {info.layout.short()}"),
            ("input range", ", ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in info.input_range)),
        ]
    for key in ("pk", "vk", "compiled", "onnx"):
        if key in manifest.files:
            rows.append((f"{key} size", f"{manifest.files[key].bytes:,} bytes"))
    if manifest.srs is not None:
        rows.append(("srs", f"{manifest.srs.kind} k={manifest.srs.logrows} sha256 {manifest.srs.sha256[:16]}…"))
    show_table(f"circuit {name}", rows)
    _print_fidelity(manifest)


def _summary(manifest: Manifest) -> dict[str, object]:
    info = manifest.info
    return {
        "name": manifest.name,
        "source": manifest.source,
        "ezkl_version": manifest.ezkl_version,
        "visibilities": {"input": manifest.config.input_visibility, "output": manifest.config.output_visibility,
                         "params": manifest.config.param_visibility},
        "logrows": info.logrows if info else None,
        "num_rows": info.num_rows if info else None,
        "input_scales": info.input_scales if info else None,
        "output_scales": info.output_scales if info else None,
        "pk_bytes": manifest.files["pk"].bytes if "pk" in manifest.files else None,
        "vk_bytes": manifest.files["vk"].bytes if "vk" in manifest.files else None,
        "srs": manifest.srs.model_dump() if manifest.srs else None,
        "fidelity": manifest.fidelity.model_dump() if manifest.fidelity else None,
        "settings": manifest.config.model_dump(),
        "layout": info.layout.model_dump() if info else None,
    }


def _print_fidelity(manifest: Manifest) -> None:
    report = manifest.fidelity
    if report is None:
        return
    line = (f"fidelity on {report.samples} {report.dataset} samples: max |err| {report.max_abs_error:.4g}, "
            f"mean |err| {report.mean_abs_error:.4g}")
    if report.agreement is not None:
        line += f", {report.decision} agreement {report.agreement:.1%}"
    err.print(line)


def _warn_dev_srs(manifest: Manifest) -> None:
    if manifest.srs is not None and manifest.srs.kind == "dev":
        RichReporter().warn(DEV_SRS_WARNING)


@app.command("example")
@handles_errors
def example_command(
    name: Annotated[str, typer.Argument(help="Reference model name.")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write it (default WORKDIR/NAME-input.json).")] = None,
    index: Annotated[int, typer.Option(help="Which held-out sample.")] = 0,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Write one encoded held-out input of a reference model, ready for `prover prove`."""
    try:
        model = get_model(name)
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}") from None
    heldout = model.heldout_set()
    if not 0 <= index < len(heldout):
        raise ProverError(f"--index must be in [0, {len(heldout) - 1}]")
    out = out or workdir / f"{name}-input.json"
    write_input(out, [heldout[index : index + 1]])
    err.print(f"wrote held-out sample {index} of {name} to {out}")
