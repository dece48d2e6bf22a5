"""Small ONNX models of our own, written on demand for issue 12's tests and the ONNX suite.

Why our own: the regression tests must not depend on ezkl's example files (we ship none
of them), and each model here isolates one thing a user's ONNX does that the reference
models never do: integer inputs, a dynamic batch axis, several outputs, near-tied
logits, a single calibration sample, a recurrent layer. Everything is seeded and
offline, so a model is the same file on every machine and a test can write it into its
own temp folder in well under a second.

Each writer produces the layout `bench/onnx_suite.py` reads (and ezkl's examples use):

    <folder>/network.onnx   torch's TorchScript exporter (dynamo=False), opset 17, weights inline
    <folder>/input.json     one sample: {"input_data": [[flat values of input 0], ...]}
    <folder>/cal.json       calibration samples, concatenated per input (several, unless
                            the single sample is the point)

Run `python tests/onnx_models.py DIR` to write all of them into DIR/<name>/.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

SEED = 12
OPSET = 17
#: calibration samples per model (one for `single_sample`, whose point is exactly that)
CAL_SAMPLES = 8


def _export(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> None:
    """TorchScript exporter, pinned opset, eval mode, one self-contained file.

    Not prover.export_torch: some models here need what it deliberately leaves out (a
    dynamic batch axis, named outputs); dynamo=False because the TorchScript exporter
    writes the same bytes every run and keeps weights in the file.
    """
    module.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _flat(array: np.ndarray) -> list[Any]:
    """JSON values of one input: ints stay ints (ezkl and our checks read them as numbers)."""
    if np.issubdtype(array.dtype, np.integer):
        return [int(v) for v in array.ravel()]
    return [round(float(v), 6) for v in array.ravel()]


def _write_data(folder: Path, samples: list[np.ndarray]) -> None:
    """input.json from the first sample of each input, cal.json from all of them.

    `samples` holds one array per graph input, shaped (samples, *input shape with batch 1).
    """
    first = {"input_data": [_flat(array[:1]) for array in samples]}
    every = {"input_data": [_flat(array) for array in samples]}
    (folder / "input.json").write_text(json.dumps(first))
    (folder / "cal.json").write_text(json.dumps(every))


def _start(folder: Path) -> tuple[Path, np.random.Generator]:
    """Same seeds for every writer, so each model is independent of the order they run in."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    return folder, np.random.default_rng(SEED)


class _Embedding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(16, 4)
        self.head = nn.Linear(6 * 4, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids).flatten(1))


def write_embedding(folder: Path) -> Path:
    """An nn.Embedding on int64 token ids (Gather with data-dependent indices), then a head."""
    folder, rng = _start(folder)
    ids = rng.integers(0, 16, size=(CAL_SAMPLES, 6)).astype(np.int64)
    _export(_Embedding(), (torch.from_numpy(ids[:1]),), folder / "network.onnx", ["input"], ["output"])
    _write_data(folder, [ids])
    return folder


class _IntWhere(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        kept = torch.where(ids > 4, ids, torch.zeros_like(ids) - 1)
        return self.head(kept.float())


def write_int_where(folder: Path) -> Path:
    """A Where on int64 values (Greater, Where, Cast to float), then a linear head."""
    folder, rng = _start(folder)
    ids = rng.integers(0, 10, size=(CAL_SAMPLES, 8)).astype(np.int64)
    _export(_IntWhere(), (torch.from_numpy(ids[:1]),), folder / "network.onnx", ["input"], ["output"])
    _write_data(folder, [ids])
    return folder


class _IntTopK(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        top = torch.topk(ids, k=3, dim=1).values
        return self.head(top.float())


def write_int_topk(folder: Path) -> Path:
    """A TopK on int64 values (ONNX TopK of an integer tensor), then a linear head."""
    folder, rng = _start(folder)
    ids = rng.integers(0, 20, size=(CAL_SAMPLES, 8)).astype(np.int64)
    _export(_IntTopK(), (torch.from_numpy(ids[:1]),), folder / "network.onnx", ["input"], ["output"])
    _write_data(folder, [ids])
    return folder


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Module:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def write_dynamic_batch(folder: Path) -> Path:
    """An MLP exported the way torch's tutorials do it: a symbolic batch axis ("batch")."""
    folder, rng = _start(folder)
    x = rng.normal(size=(CAL_SAMPLES, 5)).astype(np.float32)
    _export(
        _mlp(5, 8, 3),
        (torch.from_numpy(x[:1]),),
        folder / "network.onnx",
        ["input"],
        ["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    _write_data(folder, [x])
    return folder


class _TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
        self.value = nn.Linear(8, 1)
        self.logits = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(x)
        return self.value(hidden), self.logits(hidden)


def write_two_heads(folder: Path) -> Path:
    """Two outputs of different sizes and magnitudes: a scalar regression and 3 logits."""
    folder, rng = _start(folder)
    x = rng.normal(size=(CAL_SAMPLES, 6)).astype(np.float32)
    model = _TwoHeads()
    with torch.no_grad():
        model.value.weight.mul_(20.0)  # the regression head lives on a larger scale than the logits
    _export(model, (torch.from_numpy(x[:1]),), folder / "network.onnx", ["input"], ["value", "logits"])
    _write_data(folder, [x])
    return folder


class _NearTie(nn.Module):
    """Two heads that are the same linear map up to ~1e-4, concatenated: every logit of
    head A has a twin in head B, so argmax over the concatenation is a near-tie."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 3)
        with torch.no_grad():
            self.b.weight.copy_(self.a.weight + 1e-4 * torch.randn_like(self.a.weight))
            self.b.bias.copy_(self.a.bias + 1e-4 * torch.randn_like(self.a.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=1)


def write_near_tie(folder: Path) -> Path:
    """A Concat of two heads whose logits tie within 1e-3 on most samples."""
    folder, rng = _start(folder)
    x = rng.normal(size=(CAL_SAMPLES, 4)).astype(np.float32)
    _export(_NearTie(), (torch.from_numpy(x[:1]),), folder / "network.onnx", ["input"], ["output"])
    _write_data(folder, [x])
    return folder


class _PoolDiv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) / 7.0


def write_single_sample(folder: Path) -> Path:
    """An AveragePool and a scalar Div with outputs near 0.05, calibrated on ONE sample.

    With one sample the output's span is 0; an absolute fallback bound such as 0.01 is then
    a fifth of the output's size, which is the failure issue 12 reports.
    """
    folder, rng = _start(folder)
    x = rng.uniform(0.1, 0.6, size=(1, 1, 4, 4)).astype(np.float32)
    _export(_PoolDiv(), (torch.from_numpy(x),), folder / "network.onnx", ["input"], ["output"])
    _write_data(folder, [x])
    return folder


class _Recurrent(nn.Module):
    def __init__(self, cell: type[nn.LSTM] | type[nn.GRU]) -> None:
        super().__init__()
        self.rnn = cell(input_size=3, hidden_size=4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _write_recurrent(folder: Path, cell: type[nn.LSTM] | type[nn.GRU]) -> Path:
    folder, rng = _start(folder)
    x = rng.normal(size=(CAL_SAMPLES, 5, 3)).astype(np.float32)
    _export(_Recurrent(cell), (torch.from_numpy(x[:1]),), folder / "network.onnx", ["input"], ["output"])
    _write_data(folder, [x])
    return folder


def write_seq_lstm(folder: Path) -> Path:
    """An LSTM over 5 steps of 3 features, its last hidden state into a linear head."""
    return _write_recurrent(folder, nn.LSTM)


def write_seq_gru(folder: Path) -> Path:
    """A GRU over 5 steps of 3 features, its last hidden state into a linear head."""
    return _write_recurrent(folder, nn.GRU)


#: name -> writer; names differ from every ezkl example folder so both fit in one suite run
MODELS: dict[str, Callable[[Path], Path]] = {
    "embedding": write_embedding,
    "int_where": write_int_where,
    "int_topk": write_int_topk,
    "dynamic_batch": write_dynamic_batch,
    "two_heads": write_two_heads,
    "near_tie": write_near_tie,
    "single_sample": write_single_sample,
    "seq_lstm": write_seq_lstm,
    "seq_gru": write_seq_gru,
}


def write_all(root: Path) -> dict[str, Path]:
    """Every model into root/<name>/; returns name -> folder."""
    return {name: writer(Path(root) / name) for name, writer in MODELS.items()}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/onnx_models.py DIR")
    for name, path in write_all(Path(sys.argv[1])).items():
        print(f"{name}: {path}")
