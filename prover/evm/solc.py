"""Compile Solidity offline with the pinned npm `solc`, through standard JSON.

One compiler for everything we deploy (generated verifiers and our own contracts), so
bytecode is reproducible and nothing ever downloads a compiler. Each compiled contract
is written to `out/` as JSON with its abi, bytecode and deployedBytecode.

Imports that the input does not carry are read by `solc_compile.cjs` from disk, never from
the network: package paths (`@openzeppelin/contracts/...`, pinned in package-lock.json)
from node_modules/, project paths (`contracts/src/...`) from the project root.
Test-only contracts (contracts/test: harnesses, mocks) are compiled only on request, since
the CLI never deploys them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.artifacts import write_json_atomic
from prover.errors import MissingArtifactError, ProverError
from prover.evm.toolchain import ToolchainError, contract_sources, node_modules, project_root

EVM_VERSION = "shanghai"
OPTIMIZER_RUNS = 200
EIP170_LIMIT = 24_576
_SCRIPT = Path(__file__).with_name("solc_compile.cjs")
_CACHE_FORMAT = 1
_CACHE_KEEP = 32
#: an exact pin in package.json (a range such as ^0.8.26 in a user's project is not checked)
_EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
#: Compiler replies of this process, by request key (see `_cached_reply`).
_memo: dict[str, dict[str, Any]] = {}


class CompileError(ProverError):
    """solc rejected a source file."""

    default_hint = "the generated verifier is never hand-edited; rerun `prover verifier NAME`"


@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    solc_version: str

    @property
    def runtime_size(self) -> int:
        return len(bytes.fromhex(self.deployed_bytecode.removeprefix("0x")))

    def artifact(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "compiler": {
                "solc": self.solc_version,
                "evmVersion": EVM_VERSION,
                "optimizerRuns": OPTIMIZER_RUNS,
            },
        }


def _import_roots() -> list[Path]:
    """Where `solc_compile.cjs` looks for an import the input lacks, in its order."""
    return [node_modules(), project_root()]


def _imported_digests(units: list[str]) -> dict[str, str]:
    """sha256 of each file the compiler read from disk, found as the node script finds it."""
    digests: dict[str, str] = {}
    for unit in units:
        found = next((root / unit for root in _import_roots() if (root / unit).is_file()), None)
        digests[unit] = hashlib.sha256(found.read_bytes()).hexdigest() if found is not None else ""
    return digests


def _request_key(request_text: str) -> str:
    """Names one compilation: the compiler package, the driver script and the request."""
    digest = hashlib.sha256(f"format {_CACHE_FORMAT}\n".encode())
    digest.update((node_modules() / "solc" / "package.json").read_bytes())
    digest.update(_SCRIPT.read_bytes())
    digest.update(request_text.encode())
    return digest.hexdigest()


def installed_solc_version() -> str:
    """The npm `solc` version in node_modules, checked to be the one package.json pins.

    package.json is the one place the compiler is pinned (0.8.26: OpenZeppelin 5.7's
    ERC721, EIP712 and Governor need >= 0.8.24, Uniswap v4-core pins 0.8.26); forge's
    wrapper (contracts/solc-forge.cjs) runs the same package. A stale node_modules (the pin
    moved, `npm ci` not rerun) would compile with another compiler: refused, not guessed.
    """
    try:
        package = json.loads((project_root() / "package.json").read_text())
        installed = str(json.loads((node_modules() / "solc" / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ToolchainError(f"cannot read the installed solc's version ({exc})") from None
    pinned = {**package.get("devDependencies", {}), **package.get("dependencies", {})}.get("solc")
    if isinstance(pinned, str) and _EXACT_VERSION.fullmatch(pinned) and installed != pinned:
        raise ToolchainError(f"node_modules has solc {installed}, package.json pins {pinned}")
    return installed


def _run_solc(request_text: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH")
    completed = subprocess.run(
        [node, str(_SCRIPT), *(str(root) for root in _import_roots())],
        input=request_text,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"solc (node) failed: {reason[:300]}")
    reply: dict[str, Any] = json.loads(completed.stdout)
    return reply


def _cache_dir() -> Path:
    """Where solc's replies are kept between processes: node_modules/.cache, like other
    tools' caches, so every workdir and test shares them and `npm ci` starts afresh."""
    return node_modules() / ".cache" / "prover-solc"


def _load_entry(key: str) -> dict[str, Any] | None:
    entry = _memo.get(key)
    if entry is None:
        try:
            entry = json.loads((_cache_dir() / f"{key}.json").read_text())
        except (OSError, ValueError):  # absent, torn or unreadable: compile again
            return None
    if not isinstance(entry, dict) or _imported_digests(list(entry.get("imports", {}))) != entry.get("imports"):
        return None
    return entry


def _store_entry(key: str, entry: dict[str, Any]) -> None:
    _memo[key] = entry
    folder = _cache_dir()
    try:
        write_json_atomic(folder / f"{key}.json", entry)
        entries = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for path in entries[_CACHE_KEEP:]:
            path.unlink(missing_ok=True)
    except OSError:  # a read-only install: the cache is an optimisation only
        pass


def _cached_reply(request_text: str) -> dict[str, Any]:
    """solc's reply to a request, reused while nothing it read has changed.

    The key covers the compiler package, the driver script and the request (every source
    passed and every setting); imports read from disk (OpenZeppelin) are re-hashed on each
    reuse. Kept for the process and on disk (`_cache_dir`): a compile of contracts/src takes
    seconds, and the CLI and the tests compile the project's contracts on every deploy.
    """
    installed_solc_version()  # before the cache too: a stale install must not hit old replies
    key = _request_key(request_text)
    entry = _load_entry(key)
    if entry is not None:
        _memo[key] = entry
        return dict(entry["reply"])
    reply = _run_solc(request_text)
    if not any(e.get("severity") == "error" for e in reply["output"].get("errors", [])):
        imports = _imported_digests(sorted(set(reply.get("imported", []))))
        _store_entry(key, {"imports": imports, "reply": reply})
    return reply


def compile_sources(sources: dict[str, str]) -> dict[str, CompiledContract]:
    """Compile {unit name: source text}; returns every contract with bytecode, by name.

    Imports not among `sources` resolve from node_modules/ and then the project root (unit
    names are paths relative to it), offline. Two deployable contracts with one name are
    refused: the result is keyed by name, and silently keeping one would deploy a surprise.
    Replies are cached (see `_cached_reply`). The legacy pipeline throughout: solc's IR
    pipeline would cut a little gas but take 5-8x the compile time (20-35 s here).
    """
    settings: dict[str, Any] = {
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "evmVersion": EVM_VERSION,
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
    }
    request = {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sorted(sources.items())},
        "settings": settings,
    }
    reply = _cached_reply(json.dumps(request, sort_keys=True))
    output = reply["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        first = errors[0].get("formattedMessage", errors[0].get("message", "")).strip().splitlines()[0]
        if "not found" in first and "import" in first.lower():
            raise CompileError(f"solc: {first}", hint="run `make setup` (npm ci) to install the pinned packages")
        raise CompileError(f"solc: {first}")
    compiled: dict[str, CompiledContract] = {}
    units: dict[str, str] = {}
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        for name, data in contracts.items():
            code = data["evm"]["bytecode"]["object"]
            if not code:  # interfaces and abstract contracts
                continue
            if name in units:
                raise CompileError(
                    f"solc: contract {name} is defined in both {units[name]} and {unit}",
                    hint="give one of them another name",
                )
            units[name] = unit
            compiled[name] = CompiledContract(
                name=name,
                abi=data["abi"],
                bytecode="0x" + code,
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
                solc_version=reply["version"],
            )
    return compiled


def compile_files(files: list[Path], root: Path) -> dict[str, CompiledContract]:
    """Compile files given relative to `root`, so unit names are stable paths."""
    return compile_sources({str(f.relative_to(root)): f.read_text() for f in files})


def write_artifact(contract: CompiledContract, target: Path) -> Path:
    write_json_atomic(target, contract.artifact())
    return target


def load_artifact(path: Path, made_by: str) -> dict[str, Any]:
    if not path.exists():
        raise MissingArtifactError(f"missing compiled contract {path}", hint=f"run `{made_by}`")
    return json.loads(path.read_text())


def contract_test_sources() -> Path:
    """Our test-only Solidity (harnesses, mocks): contracts/test, never deployed by the CLI."""
    folder = project_root() / "contracts" / "test"
    if not folder.is_dir():
        raise ToolchainError(f"contract test sources not found at {folder}")
    return folder


def project_contract_files(include_tests: bool = False) -> list[Path]:
    """Every .sol under contracts/src, and when `include_tests` the harnesses and mocks at the
    top of contracts/test, sorted. forge's suites there (`*.t.sol`, with their helpers in
    contracts/test/utils) are forge's alone: nothing in Python deploys them, and compiling
    them with every test deployment would only cost time."""
    files = sorted(contract_sources().rglob("*.sol"))
    if include_tests:
        files += sorted(f for f in contract_test_sources().glob("*.sol") if not f.name.endswith(".t.sol"))
    return files


def compile_project_contracts(out_dir: Path, include_tests: bool = False) -> dict[str, CompiledContract]:
    """Compile contracts/src (and contracts/test when `include_tests`) into out_dir.

    Unit names are paths relative to the project root, so relative imports between project
    files and package imports (OpenZeppelin, from node_modules/) both resolve. The test
    contracts are left out by default: the CLI never deploys a harness or a mock verifier.
    solc's reply is reused while the sources and imports are unchanged (see `_cached_reply`).
    """
    compiled = compile_files(project_contract_files(include_tests), project_root())
    for contract in compiled.values():
        write_artifact(contract, out_dir / f"{contract.name}.json")
    return compiled
