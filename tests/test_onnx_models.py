"""Our own small ONNX models (tests/onnx_models.py) are what they claim to be.

Only the files are checked here (a loadable ONNX, data that onnxruntime runs, the
property each model exists for); how the prover handles them is tested elsewhere. Fast:
every model is written and run in well under a second, nothing is proved.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx_models import MODELS, write_all

#: numpy type onnxruntime wants for each ONNX element type the models use
NUMPY_TYPES = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.BOOL: np.bool_,
}


def _inputs(model: onnx.ModelProto) -> list[tuple[str, int, list[int | str]]]:
    """(name, element type, dims) of each graph input; a symbolic dim is its name."""
    return [
        (
            value.name,
            value.type.tensor_type.elem_type,
            [dim.dim_value if dim.HasField("dim_value") else dim.dim_param for dim in value.type.tensor_type.shape.dim],
        )
        for value in model.graph.input
    ]


def _samples(folder: Path, file: str, model: onnx.ModelProto) -> list[np.ndarray]:
    """Each input's values from an ezkl input file, shaped (samples, *shape with symbols = 1)."""
    raw = json.loads((folder / file).read_text())["input_data"]
    arrays = []
    for (_, elem_type, dims), values in zip(_inputs(model), raw, strict=True):
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in dims]
        size = math.prod(shape)
        assert len(values) % size == 0, f"{file}: {len(values)} values, shape {shape}"
        arrays.append(np.asarray(values).reshape(-1, *shape[1:]).astype(NUMPY_TYPES[elem_type]))
    return arrays


def _run(folder: Path, file: str = "input.json") -> list[list[np.ndarray]]:
    """onnxruntime's outputs for every sample of `file`, one batch-1 run per sample."""
    model = onnx.load(folder / "network.onnx")
    session = ort.InferenceSession(str(folder / "network.onnx"), providers=["CPUExecutionProvider"])
    names = [name for name, _, _ in _inputs(model)]
    arrays = _samples(folder, file, model)
    return [
        session.run(None, {n: a[i : i + 1] for n, a in zip(names, arrays, strict=True)}) for i in range(len(arrays[0]))
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_all(tmp_path_factory.mktemp("onnx_models"))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_loads_and_runs(written: dict[str, Path], name: str) -> None:
    folder = written[name]
    model = onnx.load(folder / "network.onnx")
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    (outputs,) = _run(folder, "input.json")  # input.json: exactly one sample
    assert len(outputs) == len(model.graph.output)
    assert all(np.all(np.isfinite(o.astype(np.float64))) for o in outputs)
    calibration = _run(folder, "cal.json")
    assert len(calibration) == (1 if name == "single_sample" else 8)


def test_writers_are_deterministic(tmp_path: Path) -> None:
    first, second = write_all(tmp_path / "a"), write_all(tmp_path / "b")
    for name in MODELS:
        for file in ("network.onnx", "input.json", "cal.json"):
            assert (first[name] / file).read_bytes() == (second[name] / file).read_bytes(), f"{name}/{file}"


def _ops(folder: Path) -> set[str]:
    return {node.op_type for node in onnx.load(folder / "network.onnx").graph.node}


def test_each_model_has_its_point(written: dict[str, Path]) -> None:
    """What each model is for is really in the graph (an exporter change would show here)."""
    types = {name: [t for _, t, _ in _inputs(onnx.load(written[name] / "network.onnx"))] for name in MODELS}
    for name in ("embedding", "int_where", "int_topk"):
        assert types[name] == [onnx.TensorProto.INT64], name
    assert "Gather" in _ops(written["embedding"])
    assert "Where" in _ops(written["int_where"])
    assert "TopK" in _ops(written["int_topk"])
    assert "LSTM" in _ops(written["seq_lstm"])
    assert "GRU" in _ops(written["seq_gru"])
    assert {"AveragePool", "Div"} <= _ops(written["single_sample"])
    (_, _, dims), *_ = _inputs(onnx.load(written["dynamic_batch"] / "network.onnx"))
    assert dims[0] == "batch"
    assert len(onnx.load(written["two_heads"] / "network.onnx").graph.output) == 2


def test_near_tie_logits_tie_within_1e_3(written: dict[str, Path]) -> None:
    margins = [float(np.diff(np.sort(outputs[0].ravel())[-2:])[0]) for outputs in _run(written["near_tie"], "cal.json")]
    assert sum(margin < 1e-3 for margin in margins) >= len(margins) // 2
