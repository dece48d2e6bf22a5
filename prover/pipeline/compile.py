"""Compile and setup stages: the compiled circuit, then its proving and verifying keys.

Both are deterministic for one ONNX, settings and SRS, which is what lets the pipeline
skip them when their inputs' hashes have not changed; the pk is the expensive part. The
tuner compiles its candidates with the same function.
"""

from __future__ import annotations

from pathlib import Path

from prover import ezkl_api
from prover.artifacts import CircuitPaths, atomic_path


def compile_circuit(paths: CircuitPaths) -> None:
    """network.onnx + settings.json -> network.compiled, atomically."""
    with atomic_path(paths.compiled) as tmp:
        ezkl_api.compile_circuit(paths.onnx, tmp, paths.settings, paths.log)


def setup_keys(paths: CircuitPaths, srs: Path) -> None:
    """vk and pk land together or not at all."""
    with atomic_path(paths.vk) as vk_tmp, atomic_path(paths.pk) as pk_tmp:
        ezkl_api.setup(paths.compiled, vk_tmp, pk_tmp, srs, paths.log)
