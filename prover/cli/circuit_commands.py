"""Circuit commands: models, build, tune, inspect, example.

The library is imported inside each command: torch and onnx load only for the commands
that build, so `prover inspect` or `prover --help` answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from prover import ezkl_api
from prover.artifacts import Manifest, circuit_paths, load_manifest, readable_manifest
from prover.cli.base import (
    CoverageOpt,
    DecisionOpt,
    JsonOpt,
    MaxErrorOpt,
    MaxLogrowsOpt,
    MaxRelErrorOpt,
    MinAgreementOpt,
    ObjectiveOpt,
    SettingsOpt,
    TuneBudgetOpt,
    WorkdirOpt,
    app,
    emit_json,
    handles_errors,
    overrides_from,
)
from prover.cli.render import RichReporter, models_table, print_fidelity, print_tuning, print_wide, show_table, stdout
from prover.config import MAX_BATCH
from prover.datasets import Dataset, load_dataset, sample, sample_count
from prover.errors import ProverError, UnknownModelError
from prover.proving.circuit import manifest_summary
from prover.proving.prove import write_input

InputVisOpt = Optional[Literal["public", "private", "hashed"]]
ParamVisOpt = Optional[Literal["fixed", "hashed", "private"]]


@app.command("models")
@handles_errors
def models_command(workdir: WorkdirOpt = Path("."), json_out: JsonOpt = False) -> None:
    """List the reference models `prover build NAME` can build, and the circuits built from your ONNX."""
    from models import get_model, model_names

    rows: list[dict[str, Any]] = []
    for name in model_names():
        model = get_model(name)
        rows.append(
            {
                "name": name,
                "source": "reference",
                "description": model.description,
                "input_shape": list(model.input_shape),
                "decision": model.decision_name,
                "built": circuit_paths(workdir, name).manifest.exists(),
            }
        )
    for manifest in custom_circuits(workdir):
        info = manifest.info
        rows.append(
            {
                "name": manifest.name,
                "source": "onnx",
                "description": "your ONNX model",
                "input_shape": info.input_shapes if info else None,
                "input_types": info.input_types if info else None,
                "outputs": dict(zip(info.output_names, info.output_shapes, strict=False)) if info else None,
                "decision": manifest.config.decision,
                "built": manifest.srs is not None and "pk" in manifest.files,
            }
        )
    if json_out:
        emit_json(rows)
        return
    print_wide(models_table(rows))


def _tensors(names: list[str], kinds: list[str], shapes: list[list[int]]) -> str:
    """`x: int64[1, 8], y: float32[1, 2]` (names and types where the manifest has them)."""
    parts = []
    for index, shape in enumerate(shapes):
        name = f"{names[index]}: " if index < len(names) else ""
        kind = kinds[index] if index < len(kinds) else ""
        parts.append(f"{name}{kind}{shape}")
    return ", ".join(parts)


def custom_circuits(workdir: Path) -> list[Manifest]:
    """Circuits in `workdir` built from a user's ONNX, by name; unreadable manifests skipped."""
    found = []
    for folder in sorted((workdir / "circuits").glob("*/")):
        try:
            paths = circuit_paths(workdir, folder.name)
        except ProverError:
            continue
        manifest = readable_manifest(paths)
        if manifest is not None and manifest.source == "onnx":
            found.append(manifest)
    return found


@app.command("build")
@handles_errors
def build_command(
    name: Annotated[Optional[str], typer.Argument(help="Reference model name (see `prover models`).")] = None,
    onnx: Annotated[Optional[Path], typer.Option(help="Your own ONNX model instead of a reference one.")] = None,
    circuit_name: Annotated[
        Optional[str], typer.Option("--name", help="Circuit name (--onnx: required; else default: the model's).")
    ] = None,
    batch: Annotated[
        int,
        typer.Option(
            "--batch",
            min=1,
            max=MAX_BATCH,
            help="Inferences per proof: a graph taking N inputs at once (reference models, or an ONNX exported "
            "with a fixed batch axis of N).",
        ),
    ] = 1,
    data: Annotated[Optional[Path], typer.Option(help="Calibration data for --onnx (ezkl input JSON).")] = None,
    holdout: Annotated[Optional[Path], typer.Option(help="Held-out data for the fidelity report (--onnx).")] = None,
    srs: Annotated[Optional[Path], typer.Option(help="Public SRS file; default: a cached, insecure dev SRS.")] = None,
    input_visibility: Annotated[
        InputVisOpt, typer.Option(help="Inputs on chain: public (default), private, or hashed (one Poseidon hash).")
    ] = None,
    output_visibility: Annotated[
        InputVisOpt, typer.Option(help="Outputs: public (default), private, or hashed.")
    ] = None,
    param_visibility: Annotated[
        ParamVisOpt, typer.Option(help="Weights: fixed (default), hashed, or private (off-chain only).")
    ] = None,
    settings: SettingsOpt = None,
    max_error: MaxErrorOpt = None,
    max_rel_error: MaxRelErrorOpt = None,
    decision: DecisionOpt = None,
    min_agreement: MinAgreementOpt = None,
    objective: ObjectiveOpt = None,
    tune_budget: TuneBudgetOpt = None,
    max_logrows: MaxLogrowsOpt = None,
    coverage: CoverageOpt = None,
    input_scale: Annotated[
        Optional[int], typer.Option(help="Input bits (manual); centre of the tuner's search.")
    ] = None,
    param_scale: Annotated[Optional[int], typer.Option(help="Weight bits (manual; default: input scale).")] = None,
    decomp_base: Annotated[Optional[int], typer.Option(help="Decomposition base (manual).")] = None,
    decomp_legs: Annotated[Optional[int], typer.Option(help="Decomposition legs (manual).")] = None,
    inner_cols: Annotated[Optional[int], typer.Option(help="Inner columns (manual).")] = None,
    logrows: Annotated[Optional[int], typer.Option(help="Pin logrows (>= what the circuit needs).")] = None,
    offchain: Annotated[bool, typer.Option("--offchain", help="Not for on-chain use: allows private params.")] = False,
    publish: Annotated[
        bool,
        typer.Option("--publish", help="Also write published.json: input and settings hashes, the reference vk."),
    ] = False,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Export, tune (or size) settings, compile and set up; each stage reruns only if its inputs changed."""
    from models import model_names
    from prover.pipeline.builds import build

    overrides = overrides_from(
        input_visibility=input_visibility,
        output_visibility=output_visibility,
        param_visibility=param_visibility,
        input_scale=input_scale,
        param_scale=param_scale,
        decomp_base=decomp_base,
        decomp_legs=decomp_legs,
        num_inner_cols=inner_cols,
        logrows=logrows,
        settings=settings,
        max_error=max_error,
        max_rel_error=max_rel_error,
        decision=decision,
        min_agreement=min_agreement,
        objective=objective,
        tune_budget=tune_budget,
        max_logrows=max_logrows,
        coverage=coverage,
        onchain=False if offchain else None,
    )
    if onnx is not None:
        if name is not None or circuit_name is None or data is None:
            raise ProverError(
                "--onnx needs --name and --data, and no model argument",
                hint="prover build --onnx model.onnx --name mymodel --data calib.json",
            )
        circuit = build(
            circuit_name,
            workdir,
            onnx=onnx,
            data=data,
            holdout=holdout,
            overrides=overrides,
            srs=srs,
            reporter=RichReporter(),
            batch=batch,
        )
    else:
        if name is None:
            raise ProverError("name a reference model or pass --onnx", hint="see `prover models`")
        if data is not None or holdout is not None:
            raise ProverError(
                "--data and --holdout are for --onnx models; a built circuit keeps its own",
                hint=f"prover build --onnx model.onnx --name {name} --data calib.json",
            )
        if name not in model_names() and not circuit_paths(workdir, name).manifest.exists():
            raise UnknownModelError(
                f"no reference model or circuit built from your ONNX named {name!r}",
                hint="see `prover models`, or build yours with `prover build --onnx`",
            )
        circuit = build(
            name, workdir, overrides=overrides, srs=srs, reporter=RichReporter(), batch=batch, circuit_name=circuit_name
        )
    published = None
    if publish:
        from prover.pipeline.reproduce import publish as publish_circuit

        published = publish_circuit(circuit)
    if json_out:
        emit_json(circuit.summary() | ({"published": str(published)} if published else {}))
    else:
        stdout.print(f"built [bold]{circuit.name}[/] in {circuit.paths.root}")
        if published is not None:
            stdout.print(f"published {published} (vk with the reference SRS: the same on every machine)")
        print_fidelity(circuit.manifest)


@app.command("tune")
@handles_errors
def tune_command(
    name: Annotated[str, typer.Argument(help="Reference model or built circuit.")],
    max_error: MaxErrorOpt = None,
    max_rel_error: MaxRelErrorOpt = None,
    decision: DecisionOpt = None,
    min_agreement: MinAgreementOpt = None,
    objective: ObjectiveOpt = None,
    tune_budget: TuneBudgetOpt = None,
    max_logrows: MaxLogrowsOpt = None,
    coverage: CoverageOpt = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Print the recorded search, every candidate, without tuning again.")
    ] = False,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Search scales, decomposition, columns, margin and logrows for the cheapest circuit within bounds."""
    if explain:
        manifest = load_manifest(circuit_paths(workdir, name))
        assert manifest is not None
        if manifest.tuning is None:
            raise ProverError(f"circuit {name!r} was not tuned", hint=f"run `prover tune {name}`")
    else:
        from prover.pipeline.builds import build_model

        overrides = overrides_from(
            settings="tuned",
            max_error=max_error,
            max_rel_error=max_rel_error,
            decision=decision,
            min_agreement=min_agreement,
            objective=objective,
            tune_budget=tune_budget,
            max_logrows=max_logrows,
            coverage=coverage,
        )
        manifest = build_model(name, workdir, overrides=overrides, reporter=RichReporter())
    tuning = manifest.tuning
    if tuning is None:
        raise ProverError("the build did not record a tuning report")
    if json_out:
        emit_json(
            {
                "name": manifest.name,
                "tuning": tuning.model_dump(),
                "fidelity": manifest.fidelity.model_dump() if manifest.fidelity else None,
            }
        )
        return
    print_tuning(tuning, every=explain)


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
    summary = manifest_summary(manifest)
    if json_out:
        emit_json(summary)
        return
    info = manifest.info
    rows = [
        ("source", manifest.source),
        (
            "ezkl",
            manifest.ezkl_version
            + (
                ""
                if manifest.ezkl_version == ezkl_api.EZKL_VERSION
                else f" [red](installed: {ezkl_api.EZKL_VERSION})[/]"
            ),
        ),
        ("visibility", ", ".join(f"{k} {v}" for k, v in summary["visibilities"].items())),
    ]
    if info is not None:
        rows += [
            ("logrows / rows", f"{info.logrows} / {info.num_rows:,}"),
            ("inputs", _tensors(info.input_names, info.input_types, info.input_shapes)),
            ("outputs", _tensors(info.output_names, [], info.output_shapes)),
            *([("dynamic axes", f"{', '.join(info.dynamic_axes)} fixed to 1")] if info.dynamic_axes else []),
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
    print_fidelity(manifest)


@app.command("example")
@handles_errors
def example_command(
    name: Annotated[str, typer.Argument(help="Reference model, or a circuit built from your ONNX.")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write it (default WORKDIR/NAME-input.json).")] = None,
    index: Annotated[int, typer.Option(help="Which held-out (or calibration) sample.")] = 0,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Write one held-out input, ready for `prover prove`: a reference model's, or one from your circuit's data."""
    from models import get_model, model_names

    if name in model_names():
        samples, where = [get_model(name).heldout_set()], "held-out"
    else:
        samples, where = _circuit_samples(name, workdir)
    count = sample_count(samples)
    if not 0 <= index < count:
        raise ProverError(f"--index must be in [0, {count - 1}]")
    out = out or workdir / f"{name}-input.json"
    write_input(out, sample(samples, index))
    stdout.print(f"wrote {where} sample {index} of {name} to {out}")


def _circuit_samples(name: str, workdir: Path) -> tuple[Dataset, str]:
    """A user circuit's held-out data (its calibration data if it has none)."""
    paths = circuit_paths(workdir, name)
    manifest = readable_manifest(paths)
    if manifest is None or manifest.info is None:
        raise UnknownModelError(
            f"no reference model or built circuit named {name!r}",
            hint="see `prover models`, or build yours with `prover build --onnx`",
        )
    key = "heldout" if "heldout" in manifest.files else "calibration"
    data = load_dataset(paths.root / manifest.files[key].path, manifest.info.input_shapes)
    return data, "held-out" if key == "heldout" else "calibration"
