"""A circuit's folder stays true to its manifest whatever happens to a build (issue 13,
items 12 and 13): two builds at once, or a build killed at any stage.

Every build here is the real CLI on a small ONNX model of ours (tests/onnx_models.py),
with a dev SRS cache of its own so that SRS generation is one of the stages a kill can hit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from faults import (
    PROVER,
    fault_command,
    leftovers,
    manifest_lies,
    record_outcome,
    start_tagged,
    tagged,
    wait_until,
)
from onnx_models import MODELS

NAME = "c"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return MODELS["single_sample"](tmp_path_factory.mktemp("model"))


def _build_args(model: Path, workdir: Path, *flags: str) -> list[str | Path]:
    return [
        "build",
        "--onnx",
        model / "network.onnx",
        "--name",
        NAME,
        "--data",
        model / "cal.json",
        "--workdir",
        workdir,
        *flags,
    ]


def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dev SRS cache of this test's own (the CLI children inherit it)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PROVER_CACHE_DIR", str(cache))
    return cache / "srs"


def test_two_builds_at_once_leave_a_manifest_true_to_the_disk(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second build waits for the first, says so on stderr with the holder's pid, and
    afterwards every file the manifest names is on disk with its recorded sha256."""
    srs = _cache(tmp_path, monkeypatch)
    work = tmp_path / "work"
    root = work / "circuits" / NAME
    first = start_tagged([PROVER, *_build_args(model, work)], tmp_path / "first.err")
    try:
        assert wait_until(lambda: bool(list(root.glob(".settings-*"))) or first.process.poll() is not None, 120)
        assert first.process.poll() is None, "the first build ended before the second could start"
        second = subprocess.run(
            [str(PROVER), *map(str, _build_args(model, work, "--max-rel-error", "0.05"))],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert first.process.wait(timeout=600) == 0, first.stderr.read_text()
    finally:
        first.stop()
    assert second.returncode == 0, second.stderr
    assert f"pid {first.process.pid}" in second.stderr and "waiting" in second.stderr, second.stderr
    assert manifest_lies(root) == []
    assert leftovers(root, srs) == []
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["config"]["max_rel_error"] == 0.05, "the build that waited ran last and its manifest stands"
    assert run_cli("prove", NAME, "--input", model / "input.json", "--workdir", work).code == 0


#: ezkl calls a build makes, in about the order it makes them, each a stage's last step
#: before its temp output is moved into place: the tuner's (its settings, a finalist's
#: proof with the measuring chain up), then the build's own (`!`: not in the tuner's scratch)
#: (two in the quick set, one in the circuit's folder and one in the SRS cache; all when slow tests run)
KILL_POINTS = [
    pytest.param("gen_settings", marks=pytest.mark.slow),
    pytest.param("prove", marks=pytest.mark.slow),
    pytest.param("compile_circuit!", marks=pytest.mark.slow),
    pytest.param("gen_witness!", marks=pytest.mark.slow),
    "gen_srs",
    "setup!",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_build_killed_at_any_stage_is_cleaned_up_by_the_next(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """kill -9 right after a stage's ezkl call (its output still a temp file): nothing of
    the killed build runs on, and the next build succeeds and leaves no temp file or
    scratch folder behind, in the circuit's folder or in the SRS cache."""
    srs = _cache(tmp_path, monkeypatch)
    work = tmp_path / "work"
    root = work / "circuits" / NAME
    killed = start_tagged(fault_command(point, "KILL", *_build_args(model, work)), tmp_path / "killed.err")
    try:
        code = killed.process.wait(timeout=600)
        left = killed.left_behind()
    finally:
        killed.stop()
    assert code == -9, f"the build never reached {point}: {killed.stderr.read_text()[-2000:]}"
    rebuilt = run_cli(*_build_args(model, work))
    problems = [] if rebuilt.code == 0 else [f"rebuild failed: {rebuilt.stderr[-300:]}"]
    problems += leftovers(root, srs) + (manifest_lies(root) if rebuilt.code == 0 else [])
    record_outcome(f"build: SIGKILL after {point}", left, problems)
    assert left == {}, "the killed build left processes running"
    assert problems == []
    assert not tagged(killed.tag)
