"""The README's command blocks run as written, in order, on a fresh clone.

Every ```sh block of README.md after the first (the first is `make demo` / `make test`,
which is how this suite itself runs) is run by one bash with `set -euo pipefail`, in a
`git clone` of this repository, so a block that stops working fails here, not in front
of a user. The clone borrows this checkout's `.venv` and `node_modules` (installing them
again is what `make` does, and CI runs that from a clean clone). Signing keys, keystores
and the registry record live in temp folders; the README's node listens on
127.0.0.1:8545 as it says.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
README_NODE_PORT = 8545

pytestmark = [pytest.mark.slow, pytest.mark.chain]


def sh_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text())


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_readme_has_runnable_blocks() -> None:
    """The check below reads something: the README's first block is the two make commands,
    and the walkthrough blocks use the CLI."""
    blocks = sh_blocks(ROOT / "README.md")
    assert blocks[0].split() == ["make", "demo", "make", "test"] or blocks[0].lstrip().startswith("make demo")
    assert len(blocks) >= 4 and all("prover" in block or "forge" in block for block in blocks[1:])


def test_readme_runs_as_written(tmp_path: Path) -> None:
    if not _port_is_free(README_NODE_PORT):
        pytest.skip(f"127.0.0.1:{README_NODE_PORT} is taken by another process; the README's node needs it")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    for shared in (".venv", "node_modules"):
        (clone / shared).symlink_to(ROOT / shared)
    blocks = sh_blocks(clone / "README.md")[1:]
    script = clone / "walkthrough.sh"
    script.write_text(
        "set -euo pipefail\n"
        # the trap runs under set -e too: a job the README already stopped (`kill %1`) is
        # still in the job table, and kill's failure must not become the script's status
        "cleanup() { jobs -p | xargs -r kill 2>/dev/null || true; wait 2>/dev/null || true; }\n"
        "trap cleanup EXIT\n"
        + "".join(f"echo '>>> block {n}' >&2\n{block}\n" for n, block in enumerate(blocks, start=1))
    )
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PATH": f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "PROVER_HOME": str(home / ".prover"),
        "PROVER_KEYSTORE_DIR": str(home / ".foundry" / "keystores"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("PROVER_PRIVATE_KEY", None)
    env.pop("PROVER_RPC_URL", None)
    home.mkdir()
    done = subprocess.run(
        ["bash", str(script)], cwd=clone, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    blocks_run = done.stderr.count(">>> block")
    assert done.returncode == 0, f"block {blocks_run} failed:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}"
    assert blocks_run == len(blocks)
    assert _port_is_free(README_NODE_PORT), "the README's node outlived the walkthrough"


if __name__ == "__main__":  # print the script the test would run, to try it by hand
    for number, block in enumerate(sh_blocks(ROOT / "README.md")[1:], start=1):
        sys.stdout.write(f"# block {number}\n{block}\n")
