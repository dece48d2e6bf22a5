"""Verifier stage: render the Solidity verifier with ezkl, compile it with our solc.

ezkl's `create_evm_verifier` writes the .sol and then asks svm for solc 0.8.20 to
extract an ABI, which would download a compiler. We only want the rendering: the call
runs with every proxy variable pointing at a closed local port, so that lookup fails on
this machine without a packet leaving it, and the compile is done by our pinned solc.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prover import ezkl_api
from prover.artifacts import CircuitPaths, Manifest, SrsRecord, atomic_path, require_file
from prover.errors import CircuitError
from prover.solc import EIP170_LIMIT, CompiledContract, compile_sources, write_artifact
from prover.srs import srs_path_for

_DEAD_PROXY = "http://127.0.0.1:9"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass(frozen=True)
class VerifierBuild:
    name: str
    contract: str
    source: Path
    artifact: Path
    runtime_size: int
    vka: Path | None

    @property
    def fits(self) -> bool:
        return self.runtime_size <= EIP170_LIMIT


@dataclass(frozen=True)
class VerifierPaths:
    """Where a model's verifier goes: per-model folders, so two models never collide."""

    workdir: Path
    name: str
    reusable: bool

    @property
    def contract(self) -> str:
        return "Halo2VerifierReusable" if self.reusable else "Halo2Verifier"

    @property
    def source(self) -> Path:
        return self.workdir / "contracts" / "verifiers" / self.name / f"{self.contract}.sol"

    @property
    def artifact(self) -> Path:
        return self.workdir / "out" / self.name / f"{self.contract}.json"

    @property
    def vka(self) -> Path:
        return self.workdir / "out" / self.name / "vka.bin"


@contextlib.contextmanager
def _no_network() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in (*_PROXY_VARS, "NO_PROXY", "no_proxy")}
    os.environ.update({key: _DEAD_PROXY for key in _PROXY_VARS})
    os.environ.pop("NO_PROXY", None)
    os.environ.pop("no_proxy", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def render_verifier(paths: CircuitPaths, srs_record: SrsRecord, target: Path, reusable: bool) -> None:
    """Write ezkl's Solidity verifier for this circuit's vk to `target` (atomically)."""
    require_file(paths.vk, f"prover build {paths.name}")
    srs = srs_path_for(srs_record)
    with atomic_path(target) as tmp, _no_network():
        abi = tmp.with_suffix(".abi")
        try:
            ezkl_api.create_evm_verifier(paths.vk, paths.settings, tmp, abi, srs, reusable, paths.log)
        except CircuitError:
            pass  # expected: the ABI step wants a downloaded solc; the .sol is already written
        finally:
            abi.unlink(missing_ok=True)
        if not tmp.exists() or "contract Halo2Verifier" not in tmp.read_text():
            raise CircuitError("ezkl did not render a verifier; see ezkl.log")


def build_verifier(paths: CircuitPaths, manifest: Manifest, reusable: bool = False) -> VerifierBuild:
    """Render, compile and store the verifier (and, if reusable, the VK artifact)."""
    where = VerifierPaths(paths.workdir, paths.name, reusable)
    assert manifest.srs is not None
    render_verifier(paths, manifest.srs, where.source, reusable)
    compiled = compile_verifier(where.source, where.contract)
    write_artifact(compiled, where.artifact)
    vka = None
    if reusable:
        assert manifest.srs is not None
        with atomic_path(where.vka) as tmp:
            ezkl_api.create_evm_vka(paths.vk, paths.settings, tmp, srs_path_for(manifest.srs), paths.log)
        vka = where.vka
    return VerifierBuild(paths.name, where.contract, where.source, where.artifact, compiled.runtime_size, vka)


def compile_verifier(source: Path, contract: str) -> CompiledContract:
    compiled = compile_sources({source.name: source.read_text()})
    if contract not in compiled:
        raise CircuitError(f"{source} has no contract {contract}")
    return compiled[contract]
