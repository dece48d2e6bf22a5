"""Export stage: torch -> ONNX, and everything we check about an ONNX file before use.

The opset is pinned so that the graph ezkl sees does not change with torch's defaults;
onnx.checker plus an onnxruntime parity run catch exporter surprises before they turn
into a circuit that proves the wrong function.
"""

from __future__ import annotations

import functools
import shutil
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from prover.artifacts import atomic_path
from prover.errors import ExportError, ModelLoadError, first_line

OPSET = 17
PARITY_ATOL = 1e-4


#: ONNX element types a circuit input may have, and the numpy type onnxruntime wants for each
_ELEMENT_TYPES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.BOOL: "bool",
}


@dataclass(frozen=True)
class OnnxSignature:
    """A graph's inputs and outputs with every dimension fixed (batch included).

    `input_types` are numpy type names ("float32", "int64", "bool", ...): onnxruntime is fed
    each input in its own type, and integer or boolean inputs must be given whole numbers.
    `symbols` are the named symbolic (dynamic) dimensions, each fixed to 1 for the circuit
    (ezkl is told through its `variables`); `unnamed_batch` the inputs whose leading axis
    is dynamic without a name (sklearn-onnx exports), also 1 (ezkl's own default).
    """

    input_names: list[str]
    input_shapes: list[list[int]]
    output_shapes: list[list[int]]
    input_types: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    unnamed_batch: list[str] = field(default_factory=list)

    @property
    def fixed_axes(self) -> list[str]:
        """Every dynamic axis fixed to 1, as a user would name it."""
        return [*self.symbols, *(f"{name}[0]" for name in self.unnamed_batch)]


#: one input array or tensor, or one per argument of the model's forward
ExampleInput = np.ndarray | torch.Tensor | Sequence[np.ndarray | torch.Tensor]


def export_torch(
    module: torch.nn.Module,
    example: ExampleInput,
    out: Path | str,
    parity: ExampleInput | None = None,
) -> Path:
    """Export `module` to ONNX for ezkl: the TorchScript exporter, opset OPSET, the batch of
    `example` fixed in the graph, then check that onnxruntime computes what torch computes.

    `example` is one input array (or a tuple of them, one per argument of `forward`) with
    its batch axis: a batch of 4 is a different graph (and circuit) from a batch of 1, and
    one proof then covers four inferences. `parity` adds more inputs to check, stacked
    (checks, *example.shape); by default the example itself is checked. Integer inputs
    (token ids, indices) keep their integer type in the graph.
    """
    module = module.eval()
    examples = _as_arrays(example)
    checks = [examples] if parity is None else _parity_rows(parity, len(examples))
    out = Path(out)
    try:
        with torch.no_grad():
            expected = np.stack([_flat_outputs(module(*(torch.from_numpy(a) for a in row))) for row in checks])
            outputs = module(*(torch.from_numpy(array) for array in examples))
    except Exception as exc:
        raise ExportError(f"the model fails on the example input: {first_line(exc)}") from None
    count = len(outputs) if isinstance(outputs, (list, tuple)) else 1
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    module,
                    tuple(torch.from_numpy(array) for array in examples),
                    str(tmp),
                    input_names=_names("input", len(examples)),
                    output_names=_names("output", count),
                    opset_version=OPSET,
                    dynamo=False,
                )
            except Exception as exc:
                raise ExportError(f"torch could not export the model: {first_line(exc)}") from None
        inspect_onnx(tmp)
        got = run_onnx(tmp, [np.stack([row[index] for row in checks]) for index in range(len(examples))])
        gap = float(np.max(np.abs(got - expected))) if expected.size else 0.0
        if gap > PARITY_ATOL:
            raise ExportError(f"onnxruntime disagrees with torch by {gap:.3g} (> {PARITY_ATOL})")
    return out


def _as_arrays(example: ExampleInput) -> list[np.ndarray]:
    """One contiguous array per forward argument; floats as float32 (torch's default)."""
    items = list(example) if isinstance(example, (list, tuple)) else [example]
    arrays = []
    for item in items:
        array = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        arrays.append(np.ascontiguousarray(array))
    return arrays


def _parity_rows(parity: ExampleInput, inputs: int) -> list[list[np.ndarray]]:
    """`parity` as a list of argument lists, one per check."""
    stacked = _as_arrays(parity)
    if len(stacked) != inputs:
        raise ExportError(f"parity data has {len(stacked)} inputs, the model takes {inputs}")
    return [[array[row] for array in stacked] for row in range(len(stacked[0]))]


def _flat_outputs(result: object) -> np.ndarray:
    """Every output tensor of a forward call, flattened in order (as run_onnx returns them)."""
    tensors = list(result) if isinstance(result, (list, tuple)) else [result]
    return np.concatenate([np.asarray(torch.as_tensor(t).detach().numpy(), dtype=np.float64).ravel() for t in tensors])


def _names(stem: str, count: int) -> list[str]:
    return [stem] if count == 1 else [f"{stem}_{index}" for index in range(count)]


def inspect_onnx(path: Path) -> OnnxSignature:
    """Load, check and open `path` with onnxruntime; any failure is one ModelLoadError.

    A named symbolic dimension is fixed to 1 where it is the leading (batch) axis of an
    input: one sample per proof (ezkl is told so through its `variables`). Anywhere else,
    or unnamed, it is refused by name, since no single value is known to be right.
    """
    return _opened(*_file_key(path))[0]


def copy_onnx(source: Path, target: Path) -> None:
    """Copy a model into a circuit folder as one self-contained file.

    torch's dynamo exporter may keep weights in a `<name>.data` file beside the graph; a
    plain file copy would leave them behind, so such a model is loaded with its external
    data and saved whole (small models' weights fit a single protobuf).
    """
    try:
        model = onnx.load(str(source), load_external_data=False)
        external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
        if external:
            onnx.load_external_data_for_model(model, str(Path(source).parent))
    except Exception as exc:
        raise ModelLoadError(f"cannot load ONNX model {source}: {first_line(exc)}") from None
    with atomic_path(target) as tmp:
        if external:
            tmp.write_bytes(model.SerializeToString())
        else:
            shutil.copyfile(source, tmp)


def fix_batch_axis(path: Path, batch: int) -> None:
    """Rewrite a graph whose leading (batch) axis is dynamic so that it is `batch`: in its
    inputs, its outputs and every shape annotation that names the same symbol. ezkl then
    sees a graph of `batch` samples per run, and nothing downstream needs to know."""
    model = onnx.load(str(path))
    symbols: set[str] = set()
    for item in model.graph.input:
        dims = item.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            if dims[0].dim_param:
                symbols.add(dims[0].dim_param)
            dims[0].dim_value = batch
    for item in [*model.graph.output, *model.graph.value_info]:
        dims = item.type.tensor_type.shape.dim
        for position, dim in enumerate(dims):
            if dim.dim_param in symbols or (position == 0 and not dim.dim_value and not dim.dim_param):
                dim.dim_value = batch
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelLoadError(f"cannot fix the batch axis of {path} to {batch}: {first_line(exc)}") from None
    with atomic_path(path) as tmp:
        tmp.write_bytes(model.SerializeToString())


def _file_key(path: Path) -> tuple[str, int, int]:
    """Cache key of a file's current content: a rewritten file is inspected again."""
    try:
        info = Path(path).stat()
    except OSError as exc:
        raise ModelLoadError(f"cannot load ONNX model {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):  # /dev/zero or a FIFO would be read forever
        raise ModelLoadError(f"ONNX model {path} is not a regular file (a folder, device, FIFO or socket)")
    return str(Path(path).resolve()), info.st_mtime_ns, info.st_size


@functools.lru_cache(maxsize=4)
def _opened(path: str, _mtime_ns: int, _size: int) -> tuple[OnnxSignature, ort.InferenceSession]:
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
        session = _session(path)
    except Exception as exc:
        raise ModelLoadError(f"cannot load ONNX model {path}: {first_line(exc)}") from None
    initializers = {item.name for item in model.graph.initializer}
    types = {item.name: item.type.tensor_type.elem_type for item in model.graph.input if item.name not in initializers}
    symbols: list[str] = []
    unnamed: list[str] = []
    shapes, kinds = [], []
    for item in session.get_inputs():
        element = types.get(item.name, 0)
        if element not in _ELEMENT_TYPES:
            raise ModelLoadError(
                f"input {item.name!r} of {path} is of type {onnx.TensorProto.DataType.Name(element)}, "
                "which a circuit cannot take",
                hint="export the model with float, integer or boolean inputs",
            )
        kinds.append(_ELEMENT_TYPES[element])
        shapes.append([_fixed_dim(dim, position, item.name, symbols) for position, dim in enumerate(item.shape)])
        if item.shape and not isinstance(item.shape[0], (int, str)):
            unnamed.append(item.name)
    names = [item.name for item in session.get_inputs()]
    outputs = session.get_outputs()
    output_shapes = [list(item.shape) for item in outputs]
    if not all(isinstance(dim, int) for shape in output_shapes for dim in shape):
        output_shapes = _run_shapes(session, names, shapes, kinds) or [
            [dim if isinstance(dim, int) else 1 for dim in shape] for shape in output_shapes
        ]
    signature = OnnxSignature(
        input_names=names,
        input_shapes=shapes,
        output_shapes=output_shapes,
        input_types=kinds,
        output_names=[item.name for item in outputs],
        symbols=symbols,
        unnamed_batch=unnamed,
    )
    return signature, session


def _fixed_dim(dim: object, position: int, name: str, symbols: list[str]) -> int:
    """A dimension's size for the circuit: a dynamic leading (batch) axis is 1."""
    if isinstance(dim, int) and dim > 0:
        return dim
    if position == 0 and isinstance(dim, str) and dim.isidentifier():
        if dim not in symbols:
            symbols.append(dim)
        return 1
    if position == 0 and dim is None:
        return 1
    symbol = f"{dim!r}" if isinstance(dim, str) else "(unnamed)"
    where = "leading axis" if position == 0 else f"axis {position}"
    raise ModelLoadError(
        f"input {name!r} has a dynamic dimension {symbol} at its {where}, which cannot be fixed for a circuit",
        hint="export the model with that dimension fixed (only the leading batch axis may be dynamic)",
    )


def _run_shapes(
    session: ort.InferenceSession, names: list[str], shapes: list[list[int]], kinds: list[str]
) -> list[list[int]] | None:
    """Output shapes of one run on zeros, where the graph leaves them symbolic; None if it fails."""
    feed = {name: np.zeros(shape, dtype=kind) for name, shape, kind in zip(names, shapes, kinds, strict=True)}
    try:
        return [list(np.shape(value)) for value in session.run(None, feed)]
    except Exception:
        return None


def _session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, inputs: list[np.ndarray]) -> np.ndarray:
    """Float reference outputs: one run per sample; returns (n, outputs-flattened) float64.

    `inputs` holds one array per graph input, each shaped (n, *sample_shape); each is fed
    in the input's own ONNX type (integers and booleans from whole numbers).
    """
    signature, session = _opened(*_file_key(path))
    rows = []
    for index in range(len(inputs[0])):
        feed = {
            name: as_onnx_type(array[index], kind).reshape(shape)
            for name, shape, kind, array in zip(
                signature.input_names, signature.input_shapes, signature.input_types, inputs, strict=True
            )
        }
        try:
            outputs = session.run(None, feed)
        except Exception as exc:
            raise ModelLoadError(f"onnxruntime cannot run {path} on sample {index}: {first_line(exc)}") from None
        rows.append(np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in outputs]))
    return np.stack(rows) if rows else np.zeros((0, 0))


def as_onnx_type(values: np.ndarray, kind: str) -> np.ndarray:
    """Values (floats from ezkl's JSON) as the numpy type an input takes."""
    array = np.asarray(values, dtype=np.float64)
    if kind == "bool":
        return array != 0
    if kind.startswith(("int", "uint")):
        return np.rint(array).astype(kind)
    return array.astype(kind)
