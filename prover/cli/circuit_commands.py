"""Circuit commands: models, build, tune, inspect, example.

The library is imported inside each command: torch and onnx load only for the commands
that build, so `prover inspect` or `prover --help` answer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prover import ezkl_api
from prover.artifacts import circuit_paths, load_manifest
from prover.cli.base import (
    JsonOpt,
    MaxErrorOpt,
    MinAgreementOpt,
    ObjectiveOpt,
    SettingsOpt,
    WorkdirOpt,
    app,
    emit_json,
    handles_errors,
    tuning_overrides,
)
from prover.cli.render import RichReporter, err, finalists_table, print_fidelity, show_table
from prover.config import Visibility
from prover.errors import ProverError, UnknownModelError
from prover.proving.circuit import manifest_summary
from prover.proving.prove import write_input

VisOpt = Optional[Visibility]


@app.command("models")
@handles_errors
def models_command(workdir: WorkdirOpt = Path("."), json_out: JsonOpt = False) -> None:
    """List the reference models `prover build NAME` can build, and which are built in the workdir."""
    from models import get_model, model_names

    rows = []
    for name in model_names():
        model = get_model(name)
        built = circuit_paths(workdir, name).manifest.exists()
        rows.append(
            {
                "name": name,
                "description": model.description,
                "input_shape": list(model.input_shape),
                "decision": model.decision_name,
                "built": built,
            }
        )
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        state = "[green]built[/]" if row["built"] else "[dim]not built[/]"
        err.print(
            f"[bold]{row['name']:<8}[/] {row['description']}  [dim]input {row['input_shape']}, "
            f"decision: {row['decision']}[/]  {state}"
        )


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
    input_scale: Annotated[
        Optional[int], typer.Option(help="Input bits (manual); centre of the tuner's search.")
    ] = None,
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
    from models import model_names
    from prover.pipeline.builds import build

    overrides: dict[str, object] = {
        key: value
        for key, value in {
            "input_visibility": input_visibility,
            "output_visibility": output_visibility,
            "param_visibility": param_visibility,
            "input_scale": input_scale,
            "param_scale": param_scale,
            "decomp_base": decomp_base,
            "decomp_legs": decomp_legs,
            "num_inner_cols": inner_cols,
            "logrows": logrows,
        }.items()
        if value is not None
    }
    overrides.update(tuning_overrides(settings, max_error, min_agreement, objective))
    if offchain:
        overrides["onchain"] = False
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
        )
    else:
        if name is None:
            raise ProverError("name a reference model or pass --onnx", hint="see `prover models`")
        if name not in model_names():
            raise UnknownModelError(f"unknown model {name!r}")
        if data is not None or holdout is not None:
            raise ProverError("--data and --holdout are for --onnx models; reference models bring their own")
        circuit = build(name, workdir, overrides=overrides, srs=srs, reporter=RichReporter())
    if json_out:
        emit_json(circuit.summary())
    else:
        err.print(f"built [bold]{circuit.name}[/] in {circuit.paths.root}")
        print_fidelity(circuit.manifest)


@app.command("tune")
@handles_errors
def tune_command(
    name: Annotated[str, typer.Argument(help="Reference model or built circuit.")],
    max_error: MaxErrorOpt = None,
    min_agreement: MinAgreementOpt = None,
    objective: ObjectiveOpt = None,
    workdir: WorkdirOpt = Path("."),
    json_out: JsonOpt = False,
) -> None:
    """Search scales, decomposition, columns, margin and logrows for the cheapest circuit within bounds."""
    from prover.pipeline.builds import build_model

    overrides = tuning_overrides("tuned", max_error, min_agreement, objective)
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
    phases: dict[str, int] = {}
    for trial in tuning.trials:
        phases[trial.phase] = phases.get(trial.phase, 0) + 1
    err.print(
        f"tried {', '.join(f'{count} {phase}' for phase, count in phases.items())} candidates "
        f"in {tuning.seconds:.1f} s (objective: {tuning.objective})"
    )
    err.print(finalists_table([t for t in tuning.trials if t.prove_s is not None]))
    err.print(f"chosen: {tuning.chosen.short()}")


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
    name: Annotated[str, typer.Argument(help="Reference model name.")],
    out: Annotated[Optional[Path], typer.Option(help="Where to write it (default WORKDIR/NAME-input.json).")] = None,
    index: Annotated[int, typer.Option(help="Which held-out sample.")] = 0,
    workdir: WorkdirOpt = Path("."),
) -> None:
    """Write one encoded held-out input of a reference model, ready for `prover prove`."""
    from models import get_model

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
