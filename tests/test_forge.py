"""The Foundry kit from a Solidity developer's side: one pinned compiler for Python and forge,
and a consumer in a Foundry project of one's own that builds on the kit and passes its tests.

The repo's own suites (contracts/test/*.t.sol) run with `make forge-test`; this file checks
what a user relies on: the documented project (docs/solidity/scorebook) importing
`zkml-prover/ZkmlConsumer.sol` through the documented remapping, compiled offline by the
kit's solc wrapper and tested by the npm forge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from prover.evm import solc
from prover.evm.solc import compile_sources, installed_solc_version
from prover.evm.toolchain import ToolchainError

ROOT = Path(__file__).resolve().parents[1]
FORGE = ROOT / "node_modules" / "@foundry-rs" / "forge-linux-amd64" / "bin" / "forge"
WRAPPER = ROOT / "contracts" / "solc-forge.cjs"
EXAMPLE = ROOT / "docs" / "solidity" / "scorebook"
STORE = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract Store { uint256 public value = 7; }\n"

needs_forge = pytest.mark.skipif(not FORGE.exists(), reason="the npm forge is not installed (make setup)")


def forge(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FORGE), *args], cwd=project, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_python_and_forge_compile_with_the_one_pinned_solc() -> None:
    """package.json pins the compiler (at least 0.8.24, which OpenZeppelin 5.7's ERC721,
    EIP712 and Governor need); prover's compiles and forge's wrapper both use it."""
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["solc"]
    assert installed_solc_version() == pinned
    assert tuple(int(part) for part in pinned.split(".")) >= (0, 8, 24)
    version = compile_sources({"Store.sol": STORE})["Store"].solc_version
    assert version.startswith(f"{pinned}+commit.")
    wrapper = subprocess.run(["node", str(WRAPPER), "--version"], capture_output=True, text=True, check=True)
    assert wrapper.stdout.splitlines()[-1] == f"Version: {version}"


def test_stale_compiler_install_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """node_modules left at another solc than package.json pins (the pin moved, `npm ci` not
    rerun) is an error naming both, not a silent compile with the old compiler."""
    (tmp_path / "node_modules" / "solc").mkdir(parents=True)
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"solc": "0.8.26"}}))
    (tmp_path / "node_modules" / "solc" / "package.json").write_text(json.dumps({"version": "0.8.20"}))
    monkeypatch.setattr(solc, "project_root", lambda: tmp_path)
    monkeypatch.setattr(solc, "node_modules", lambda: tmp_path / "node_modules")
    with pytest.raises(ToolchainError, match=r"node_modules has solc 0\.8\.20, package.json pins 0\.8\.26") as info:
        compile_sources({"Store.sol": STORE})
    assert "npm ci" in (info.value.hint or "")


def test_wrapper_reads_imports_from_node_modules_and_forges_paths(tmp_path: Path) -> None:
    """What forge does not inline, solc asks for: read from the base path, include paths or
    node_modules, and from nowhere else."""
    request = {
        "language": "Solidity",
        "sources": {
            "A.sol": {
                "content": 'pragma solidity ^0.8.24; import "@openzeppelin/contracts/access/Ownable.sol"; '
                'import "lib/B.sol"; contract A is Ownable, B { constructor() Ownable(msg.sender) {} }'
            }
        },
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "B.sol").write_text("pragma solidity ^0.8.24; contract B {}")
    run = subprocess.run(
        ["node", str(WRAPPER), "--base-path", str(tmp_path), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    reply = json.loads(run.stdout)
    assert not [e for e in reply.get("errors", []) if e["severity"] == "error"], reply["errors"]
    assert set(reply["contracts"]) >= {"A.sol", "lib/B.sol", "@openzeppelin/contracts/access/Ownable.sol"}
    request["sources"]["A.sol"]["content"] = 'pragma solidity ^0.8.24; import "/etc/passwd";'
    run = subprocess.run(
        ["node", str(WRAPPER), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "not found" in json.dumps(json.loads(run.stdout)["errors"])


@needs_forge
def test_a_users_consumer_builds_on_the_kit_and_its_forge_test_passes(tmp_path: Path) -> None:
    """docs/solidity.md's project: the kit as lib/zkml-prover (here a link to this checkout
    instead of a clone), its foundry.toml and remappings.txt, ScoreBook and its mock-verifier
    test; `forge build` and `forge test` offline."""
    project = tmp_path / "scorebook"
    for folder in ("src", "test", "lib"):
        (project / folder).mkdir(parents=True)
    (project / "lib" / "zkml-prover").symlink_to(ROOT)
    for name in ("foundry.toml", "remappings.txt", "src/ScoreBook.sol", "test/ScoreBook.t.sol"):
        shutil.copy(EXAMPLE / name, project / name)
    assert (
        'import {ZkmlConsumer} from "zkml-prover/ZkmlConsumer.sol";' in (project / "src" / "ScoreBook.sol").read_text()
    )
    built = forge(project, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    tested = forge(project, "test", "--json")
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr
    results = {
        name: outcome["status"]
        for suite in json.loads(tested.stdout).values()
        for name, outcome in suite["test_results"].items()
    }
    assert len(results) == 3 and set(results.values()) == {"Success"}, results
