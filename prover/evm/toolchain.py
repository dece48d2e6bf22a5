"""Where the pinned node toolchain (solc, anvil) and the contract sources live.

They are installed by `npm ci` next to package.json at the project root, not inside the
Python package, so we look for the root from this file and from the current folder.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from prover.errors import ProverError


class ToolchainError(ProverError):
    """The pinned node toolchain or the contract sources are not installed."""

    default_hint = "run `make setup` (it runs `npm ci`) at the project root"


@cache
def project_root() -> Path:
    """The folder holding node_modules/: $PROVER_PROJECT_ROOT, else up from here or the cwd."""
    override = os.environ.get("PROVER_PROJECT_ROOT")
    if override:
        return Path(override).resolve()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "node_modules").is_dir() and (folder / "package.json").is_file():
                return folder
    raise ToolchainError("cannot find node_modules/ (the pinned solc and anvil)")


def node_modules() -> Path:
    return project_root() / "node_modules"


def contract_sources() -> Path:
    """Our hand-written Solidity (interfaces, consumer base, pool)."""
    folder = project_root() / "contracts" / "src"
    if not folder.is_dir():
        raise ToolchainError(f"contract sources not found at {folder}")
    return folder
