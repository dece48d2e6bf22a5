"""Shared fixtures: one dev-SRS cache, one built workdir and one anvil per test session.

Reference circuits are built once (through the library, the same functions the CLI
calls) and shared read-only; a test that must change a circuit copies the workdir. With
`$PROVER_TEST_CACHE` set (`make test-fast` sets it), the builds and dev SRS files live
there between runs: the pipeline's own hash checks rebuild only what changed, so an edit
loop pays for builds once. Without it (CI), everything is built fresh in the session's
temp folder.

The chain fixtures live in the `contract_env` plugin.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from prover.artifacts import Manifest
from prover.evm.node import DEV_PRIVATE_KEY
from prover.pipeline.builds import build_reference
from prover.progress import SilentReporter

pytest_plugins = ["contract_env", "market_env"]

PROVER = Path(sys.executable).with_name("prover")
#: the variants the suite compares: one of each kind that builds in under a minute for fee
SMALL_VARIANTS = "tuned,hashed-inputs,batch-2"
REFERENCE_MODELS = ("fee", "digits", "credit")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def _persistent_cache() -> Path | None:
    value = os.environ.get("PROVER_TEST_CACHE")
    return Path(value).resolve() if value else None


@pytest.fixture(scope="session", autouse=True)
def srs_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dev SRS files for this session (or the persistent test cache), shared by every build and CLI call."""
    persistent = _persistent_cache()
    cache = persistent / "prover-cache" if persistent else tmp_path_factory.mktemp("prover-cache")
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["PROVER_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(scope="session", autouse=True)
def keystores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`--account` keystores of this session, never the user's ~/.foundry/keystores."""
    folder = tmp_path_factory.mktemp("keystores")
    os.environ["PROVER_KEYSTORE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def prover_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user-level records of this session ($PROVER_HOME: one model registry per chain),
    never the user's own."""
    folder = tmp_path_factory.mktemp("prover-home")
    os.environ["PROVER_HOME"] = str(folder)
    return folder


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    memory_limit: int | None = None,
) -> CliResult:
    """Run the installed `prover` console script for real, as a user would.

    `env` adds variables; `memory_limit` caps the child's heap (RLIMIT_DATA, bytes), so a
    fault-injection test that regresses fails with MemoryError instead of taking the
    shared machine's memory. (Not its address space: node's wasm solc reserves far more
    than it uses, and fails under RLIMIT_AS.)"""

    def limit_memory() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))

    completed = subprocess.run(
        [str(PROVER), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        timeout=timeout,
        check=False,
        preexec_fn=limit_memory if memory_limit is not None else None,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


class ChainCli:
    """`prover` subprocesses against one node: `--rpc-url` and a signing key (None: read only)
    on every call, the environment's PROVER_* cleared so only what a test passes counts."""

    def __init__(self, work: Path, rpc_url: str) -> None:
        self.work, self.rpc_url = work, rpc_url

    def run(self, *args: str | Path, key: str | None = DEV_PRIVATE_KEY) -> CliResult:
        signing = ("--private-key", key) if key else ()
        env = {"PROVER_PRIVATE_KEY": "", "PROVER_RPC_URL": ""}
        return run_cli(*args, "--rpc-url", self.rpc_url, *signing, "--workdir", self.work, env=env)

    def ok(self, *args: str | Path, key: str | None = DEV_PRIVATE_KEY) -> CliResult:
        result = self.run(*args, key=key)
        assert result.code == 0, (args, result.stderr[-3000:])
        return result

    def json(self, *args: str | Path, key: str | None = DEV_PRIVATE_KEY) -> Any:
        return json.loads(self.ok(*args, "--json", key=key).stdout)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, srs_cache: Path) -> Path:
    """A workdir with the reference circuits (fee, digits, credit) built (from the persistent cache if any)."""
    workdir = tmp_path_factory.mktemp("built")
    persistent = _persistent_cache()
    if persistent is None:
        for name in REFERENCE_MODELS:
            build_reference(name, workdir, reporter=SilentReporter())
        return workdir
    cached = persistent / "built"
    cached.mkdir(parents=True, exist_ok=True)
    with open(persistent / "built.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once share one build
        for name in REFERENCE_MODELS:
            build_reference(name, cached, reporter=SilentReporter())
        shutil.copytree(cached / "circuits", workdir / "circuits")
    return workdir


#: batch circuits the market tests settle several requests with: (reference model, batch, circuit name)
BATCH_CIRCUITS = (("fee", 4, "fee_b4"), ("digits", 4, "digits_b4"))


@pytest.fixture(scope="session")
def batch_built(built: Path) -> Path:
    """The `built` workdir plus the batch circuits of BATCH_CIRCUITS (cached like `built`)."""
    persistent = _persistent_cache()
    target = built if persistent is None else persistent / "built"
    with open((persistent or built) / "batch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for model, batch, name in BATCH_CIRCUITS:
            build_reference(model, target, reporter=SilentReporter(), batch=batch, circuit_name=name)
            if target != built and not (built / "circuits" / name).exists():
                shutil.copytree(target / "circuits" / name, built / "circuits" / name)
    return built


@pytest.fixture
def workdir_copy(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built workdir, for tests that damage artifacts."""
    target = tmp_path / "work"
    shutil.copytree(built, target)
    return target


@pytest.fixture(scope="session")
def compare_workdir(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the built workdir that `prover compare` and the notebooks add variants to."""
    target = tmp_path_factory.mktemp("compare") / "work"
    shutil.copytree(built, target)
    return target


def manifest_of(workdir: Path, name: str) -> Manifest:
    return Manifest.model_validate_json((workdir / "circuits" / name / "manifest.json").read_text())


def assert_clean_error(result: CliResult, *fragments: str) -> None:
    """Exit 2, one `error:` line naming the problem, a hint, and no traceback."""
    assert result.code == 2, (result.code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "hint:" in result.stderr
