"""A fault-injection sweep through the real CLI (issue 13, "State and processes"): prove,
deploy and demo hit by kill -9, SIGTERM, SIGHUP and Ctrl-C at chosen points, and state
files deleted or damaged between commands.

For each fault: which processes outlived the program (faults.py's tags), and whether state
was lost or left corrupt (the next run fails or crashes, temp files or scratch remain, the
manifest names files that are not on disk). Builds killed at each stage are in
test_build_state.py. With `$PROVER_FAULT_REPORT` set, every outcome is appended there
(JSON lines), which is how the sweep's counts are made.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from conftest import CliResult, run_cli
from faults import fault_command, leftovers, manifest_lies, record_outcome, start_tagged
from onnx_models import MODELS

pytestmark = [pytest.mark.slow, pytest.mark.chain]

#: the exit code of a program stopped by each signal: by the signal itself (KILL), or
#: unwound by the CLI with the shell's 128 + N
EXIT = {"KILL": -9, "TERM": 128 + signal.SIGTERM, "HUP": 128 + signal.SIGHUP, "INT": 128 + signal.SIGINT}


def _clean(result: CliResult, what: str) -> list[str]:
    """A command that fails must fail with one error line, never a traceback."""
    if "Traceback" in result.stderr or "Traceback" in result.stdout:
        return [f"{what}: traceback ({result.stderr.strip().splitlines()[-1]})"]
    if result.code not in (0, 1, 2):
        return [f"{what}: exit code {result.code}"]
    return []


def _must_work(result: CliResult, what: str) -> list[str]:
    return [] if result.code == 0 else [f"{what} failed ({result.code}): {result.stderr.strip()[-300:]}"]


def _faulted(tmp_path: Path, fault: str, point: str, name: str, *args: str | Path) -> dict[int, str]:
    """Run `prover ARGS` with the fault; what it left running (asserting it reached the point)."""
    program = start_tagged(fault_command(point, name, *args), tmp_path / "faulted.err")
    try:
        code = program.process.wait(timeout=600)
        left = program.left_behind()
    finally:
        program.stop()
    stderr = program.stderr.read_text()
    assert code == EXIT[name], f"{fault}: never reached {point} (exit {code}): {stderr[-1500:]}"
    assert "Traceback" not in stderr, stderr
    return left


@pytest.fixture
def fee_work(built: Path, tmp_path: Path) -> Path:
    """A workdir holding the built fee circuit (the build stage of the demo is then cached)."""
    work = tmp_path / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    return work


@pytest.mark.parametrize("name", ["KILL", "TERM"])
def test_prove_interrupted(fee_work: Path, tmp_path: Path, name: str) -> None:
    root = fee_work / "circuits" / "fee"
    assert run_cli("example", "fee", "--out", tmp_path / "in.json", "--workdir", fee_work).code == 0
    fault = f"prove: SIG{name} after ezkl prove"
    left = _faulted(
        tmp_path, fault, "prove", name, "prove", "fee", "--input", tmp_path / "in.json", "--workdir", fee_work
    )
    again = run_cli("prove", "fee", "--input", tmp_path / "in.json", "--workdir", fee_work)
    problems = _must_work(again, "prove again") + leftovers(root) + manifest_lies(root)
    record_outcome(fault, left, problems)
    assert (left, problems) == ({}, [])


@pytest.mark.parametrize("name", ["KILL", "TERM"])
def test_deploy_interrupted(fee_work: Path, tmp_path: Path, name: str) -> None:
    fault = f"deploy: SIG{name} while rendering the verifier (embedded chain up)"
    left = _faulted(tmp_path, fault, "render_evm_verifier", name, "deploy", "fee", "--workdir", fee_work)
    again = run_cli("deploy", "fee", "--workdir", fee_work)
    problems = _must_work(again, "deploy again") + leftovers(fee_work / "circuits" / "fee", fee_work / "deployments")
    record_outcome(fault, left, problems)
    assert (left, problems) == ({}, [])


@pytest.mark.parametrize(
    ("point", "name"),
    [
        ("render_evm_verifier", "KILL"),
        ("render_evm_verifier", "TERM"),
        ("prove", "KILL"),
        ("prove", "HUP"),
        ("prove", "INT"),
    ],
)
def test_demo_interrupted(fee_work: Path, tmp_path: Path, point: str, name: str) -> None:
    stage = "deploying" if point == "render_evm_verifier" else "proving a fee update"
    fault = f"demo: SIG{name} while {stage}"
    left = _faulted(tmp_path, fault, point, name, "demo", "--workdir", fee_work)
    again = run_cli("demo", "--workdir", fee_work)
    problems = _must_work(again, "demo again") + leftovers(fee_work / "circuits" / "fee", fee_work / "deployments")
    record_outcome(fault, left, problems)
    assert (left, problems) == ({}, [])


def test_demo_after_its_deployment_record_was_damaged(fee_work: Path, tmp_path: Path) -> None:
    """A damaged record of a dev chain (its instance is gone anyway) must not block the next demo."""
    assert run_cli("demo", "--workdir", fee_work).code == 0
    (fee_work / "deployments" / "31337.json").write_text('{"chainId": 31337, "contracts": [')
    again = run_cli("demo", "--workdir", fee_work)
    problems = _clean(again, "demo") + _must_work(again, "demo with a damaged record")
    record_outcome("deployments/31337.json damaged, then demo", {}, problems)
    assert problems == []


# --- a circuit's own files deleted or damaged between commands ------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return MODELS["single_sample"](tmp_path_factory.mktemp("small"))


def _build(model: Path, work: Path) -> CliResult:
    return run_cli(
        "build", "--onnx", model / "network.onnx", "--name", "c", "--data", model / "cal.json", "--workdir", work
    )


def _damage(root: Path, how: str) -> None:
    if how == "key.pk deleted":
        (root / "key.pk").unlink()
    elif how == "manifest.json damaged":
        (root / "manifest.json").write_text("{")
    elif how == "settings.json emptied":
        (root / "settings.json").write_text("")
    elif how == "network.compiled truncated":
        data = (root / "network.compiled").read_bytes()
        (root / "network.compiled").write_bytes(data[: len(data) // 2])
    elif how == "dev SRS deleted from the cache":
        manifest = json.loads((root / "manifest.json").read_text())
        Path(manifest["srs"]["path"]).unlink()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "key.pk deleted",
        "manifest.json damaged",
        "settings.json emptied",
        "network.compiled truncated",
        "dev SRS deleted from the cache",
    ],
)
def test_damaged_circuit_files(small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """The next prove fails with one clean error (or still works); a build repairs it."""
    monkeypatch.setenv("PROVER_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    root = work / "circuits" / "c"
    assert _build(small, work).code == 0
    _damage(root, how)
    proved = run_cli("prove", "c", "--input", small / "input.json", "--workdir", work)
    rebuilt = _build(small, work)
    problems = _clean(proved, "prove") + _must_work(rebuilt, "rebuild")
    if rebuilt.code == 0:
        again = run_cli("prove", "c", "--input", small / "input.json", "--workdir", work)
        problems += _must_work(again, "prove after the rebuild") + manifest_lies(root)
    problems += leftovers(root, tmp_path / "cache" / "srs")
    record_outcome(f"{how}, then prove and rebuild", {}, problems)
    assert problems == []
