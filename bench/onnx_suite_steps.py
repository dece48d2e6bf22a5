"""One step of the ONNX suite, run in a fresh child process: `python onnx_suite_steps.py STEP ARGS_JSON`.

Why a child per step: ezkl can segfault, abort in Rust or run out of memory, and
onnxruntime can crash on a graph it does not support. In a child, any of that is one
failed step of one model (the parent reads the exit status and a timeout), never the
end of the suite. The child writes `{"ok": true, ...}` or `{"ok": false, "error": "..."}`
to the `result` path in ARGS_JSON; ezkl's own chatter goes to the `log` path.

The plain-ezkl steps are the baseline a user gets without this toolkit: ezkl's
`gen_settings` with only the visibilities set (input public, output public, params
fixed, as the toolkit sets them) and symbolic dimensions fixed to 1, then ezkl's own
"resources" calibration. The reference step is onnxruntime on the sample, each input fed
in its own ONNX element type.
"""

# Each step imports only what it needs (the reference step never loads ezkl, the ezkl
# steps never load onnxruntime), so one library's crash or import cost stays its own.
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: ONNX TensorProto element type -> numpy type name onnxruntime wants for it
ELEMENT_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
}
#: visibilities of plain ezkl's baseline: what the toolkit sets by default (prover.config)
VISIBILITY = {"input_visibility": "public", "output_visibility": "public", "param_visibility": "fixed"}
CHECK_MODE = "safe"


def graph_inputs(model: Any) -> list[dict[str, Any]]:
    """Name, numpy type, shape (symbols and unknown dims as 1) and symbols of each real input.

    Initializers listed as inputs (old exporters do that) are weights, not inputs.
    """
    weights = {tensor.name for tensor in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in weights:
            continue
        tensor = value.type.tensor_type
        shape, symbols = [], []
        for dim in tensor.shape.dim:
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(dim.dim_value)
            else:
                shape.append(1)
                if dim.dim_param:
                    symbols.append(dim.dim_param)
        dtype = ELEMENT_TYPES.get(tensor.elem_type)
        if dtype is None:
            raise ValueError(f"input {value.name!r} has ONNX element type {tensor.elem_type}, not supported here")
        inputs.append({"name": value.name, "dtype": dtype, "shape": shape, "symbols": symbols})
    return inputs


def graph_symbols(model: Any) -> list[str]:
    """Every named symbolic dimension of the graph's inputs and outputs."""
    found: set[str] = set()
    for value in [*model.graph.input, *model.graph.output]:
        found.update(dim.dim_param for dim in value.type.tensor_type.shape.dim if dim.dim_param)
    return sorted(found)


def _first_sample(values: list[Any], spec: dict[str, Any]) -> Any:
    """The first sample of one input's flat values, in the input's own type."""
    import numpy as np

    size = math.prod(spec["shape"])
    if len(values) < size or len(values) % size:
        raise ValueError(f"input {spec['name']!r}: {len(values)} values, shape {spec['shape']} needs {size}")
    array = np.asarray(values[:size], dtype=np.float64).reshape(spec["shape"])
    if spec["dtype"] == "bool":
        return array != 0
    if spec["dtype"].startswith(("int", "uint")):
        return np.rint(array).astype(spec["dtype"])
    return array.astype(spec["dtype"])


def step_reference(args: dict[str, Any]) -> dict[str, Any]:
    """onnxruntime on the first sample of the input file; outputs flattened to floats."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    model = onnx.load(args["onnx"])
    specs = graph_inputs(model)
    raw = json.loads(Path(args["input"]).read_text())["input_data"]
    if len(raw) < len(specs):
        raise ValueError(f"input file has {len(raw)} inputs, the graph takes {len(specs)}")
    feeds = {spec["name"]: _first_sample(values, spec) for spec, values in zip(specs, raw, strict=False)}
    session = ort.InferenceSession(args["onnx"], providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    return {
        "outputs": [np.asarray(out, dtype=np.float64).ravel().tolist() for out in outputs],
        "output_shapes": [list(np.shape(out)) for out in outputs],
        "output_names": [out.name for out in session.get_outputs()],
        "input_types": [spec["dtype"] for spec in specs],
        "input_shapes": [spec["shape"] for spec in specs],
        "symbols": graph_symbols(model),
        "samples": len(raw[0]) // max(math.prod(specs[0]["shape"]), 1) if specs else 0,
    }


def _log(args: dict[str, Any]) -> Path:
    return Path(args["log"])


def step_gen_settings(args: dict[str, Any]) -> dict[str, Any]:
    """ezkl.gen_settings with explicit visibilities and every symbol fixed to 1."""
    import onnx

    from prover import ezkl_api

    symbols = graph_symbols(onnx.load(args["onnx"]))
    run_args = ezkl_api.ezkl.PyRunArgs()
    for key, value in VISIBILITY.items():
        setattr(run_args, key, value)
    run_args.check_mode = CHECK_MODE
    variables = dict(run_args.variables)  # ezkl's default: batch_size = 1
    variables.update({symbol: 1 for symbol in symbols})
    run_args.variables = list(variables.items())
    ezkl_api.call(
        "gen_settings", _log(args), ezkl_api.ezkl.gen_settings, args["onnx"], args["settings"], py_run_args=run_args
    )
    return {"symbols": symbols, "variables": list(variables.items())}


def _logrows(settings: str) -> int:
    return int(json.loads(Path(settings).read_text())["run_args"]["logrows"])


def step_calibrate(args: dict[str, Any]) -> dict[str, Any]:
    """ezkl's own 'resources' calibration, its default scale search, on the calibration data."""
    from prover import ezkl_api

    ezkl_api.calibrate_default(Path(args["data"]), Path(args["onnx"]), Path(args["settings"]), _log(args))
    run_args = json.loads(Path(args["settings"]).read_text())["run_args"]
    keys = ("logrows", "input_scale", "param_scale", "scale_rebase_multiplier", "decomp_base", "decomp_legs")
    return {key: run_args.get(key) for key in keys}


def step_compile(args: dict[str, Any]) -> dict[str, Any]:
    from prover import ezkl_api

    ezkl_api.compile_circuit(Path(args["onnx"]), Path(args["compiled"]), Path(args["settings"]), _log(args))
    return {}


def step_srs(args: dict[str, Any]) -> dict[str, Any]:
    """The project's cached dev SRS of the settings' logrows (the toolkit uses the same files)."""
    from prover.pipeline.srs import dev_srs

    logrows = _logrows(args["settings"])
    return {"srs": str(dev_srs(logrows).path), "logrows": logrows}


def step_setup(args: dict[str, Any]) -> dict[str, Any]:
    from prover import ezkl_api

    start = time.perf_counter()
    ezkl_api.setup(Path(args["compiled"]), Path(args["vk"]), Path(args["pk"]), Path(args["srs"]), _log(args))
    return {"seconds": time.perf_counter() - start, "pk_bytes": Path(args["pk"]).stat().st_size}


def step_witness(args: dict[str, Any]) -> dict[str, Any]:
    """Witness of the sample, and the circuit's outputs rescaled to floats."""
    from prover import ezkl_api
    from prover.proving.prove import rescaled_outputs

    witness = ezkl_api.gen_witness(Path(args["data"]), Path(args["compiled"]), Path(args["witness"]), _log(args))
    scales = json.loads(Path(args["settings"]).read_text())["model_output_scales"]
    return {"outputs": rescaled_outputs(witness, scales)}


def step_prove(args: dict[str, Any]) -> dict[str, Any]:
    """Only the prove call is timed, as the toolkit's prove_sample times it."""
    from prover import ezkl_api

    files = {key: Path(args[key]) for key in ("witness", "compiled", "pk", "proof", "srs")}
    start = time.perf_counter()
    ezkl_api.prove(files["witness"], files["compiled"], files["pk"], files["proof"], files["srs"], _log(args))
    return {"seconds": time.perf_counter() - start}


def step_verify(args: dict[str, Any]) -> dict[str, Any]:
    from prover import ezkl_api

    files = {key: Path(args[key]) for key in ("proof", "settings", "vk", "srs")}
    return {"verified": ezkl_api.verify(files["proof"], files["settings"], files["vk"], files["srs"], _log(args))}


STEPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "reference": step_reference,
    "gen_settings": step_gen_settings,
    "calibrate": step_calibrate,
    "compile": step_compile,
    "srs": step_srs,
    "setup": step_setup,
    "witness": step_witness,
    "prove": step_prove,
    "verify": step_verify,
}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:400]


def main(argv: list[str]) -> int:
    step, args = argv[1], json.loads(argv[2])
    try:
        document = {"ok": True, **STEPS[step](args)}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3's PanicException is a BaseException
        traceback.print_exc()
        document = {"ok": False, "error": _one_line(exc)}
    Path(args["result"]).write_text(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
