"""Compile Solidity offline with the pinned npm `solc`, through standard JSON.

One compiler for everything we deploy (generated verifiers and our own contracts), so
bytecode is reproducible and nothing ever downloads a compiler. Each compiled contract
is written to `out/` as JSON with its abi, bytecode and deployedBytecode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.artifacts import write_json_atomic
from prover.errors import MissingArtifactError, ProverError
from prover.toolchain import ToolchainError, contract_sources, node_modules, project_root

EVM_VERSION = "shanghai"
OPTIMIZER_RUNS = 200
EIP170_LIMIT = 24_576
_SCRIPT = Path(__file__).with_name("solc_compile.cjs")


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
            "compiler": {"solc": self.solc_version, "evmVersion": EVM_VERSION, "optimizerRuns": OPTIMIZER_RUNS},
        }


def compile_sources(sources: dict[str, str]) -> dict[str, CompiledContract]:
    """Compile {unit name: source text}; returns every contract with bytecode, by name."""
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH")
    request = {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    completed = subprocess.run(
        [node, str(_SCRIPT), str(node_modules())],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"solc (node) failed: {reason[:300]}")
    reply = json.loads(completed.stdout)
    output = reply["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        first = errors[0].get("formattedMessage", errors[0].get("message", "")).strip().splitlines()[0]
        raise CompileError(f"solc: {first}")
    compiled: dict[str, CompiledContract] = {}
    for contracts in output.get("contracts", {}).values():
        for name, data in contracts.items():
            code = data["evm"]["bytecode"]["object"]
            if not code:  # interfaces and abstract contracts
                continue
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


def compile_project_contracts(out_dir: Path) -> dict[str, CompiledContract]:
    """Compile contracts/src (unit names relative to the project root) into out_dir."""
    root = project_root()
    compiled = compile_files(sorted(contract_sources().rglob("*.sol")), root)
    for contract in compiled.values():
        write_artifact(contract, out_dir / f"{contract.name}.json")
    return compiled
