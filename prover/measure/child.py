"""One proof in a fresh process: `python -m prover.measure.child WORKDIR NAME INPUT PROOF`.

Why a child: proving time and peak memory of a long-lived parent (torch, web3, the last
circuit's keys) say nothing about what a prover pays. The child imports only the proving
package (no torch, no web3) and prints one JSON line: `prove_s` and `peak_rss_bytes`, its
own VmHWM (wait4's ru_maxrss would include pages of the forked parent).
`python -m prover.measure.child --idle` imports the same and proves nothing: the floor
under every figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from prover.errors import CircuitError, ProverError
from prover.proving.circuit import open_circuit
from prover.proving.memory import peak_rss_bytes

IDLE = "--idle"


def main(argv: list[str]) -> int:
    """Prove once (or stay idle) and print the figures; a ProverError is one line on stderr."""
    if argv == [IDLE]:
        print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}))
        return 0
    if len(argv) != 4:
        print(f"usage: python -m prover.measure.child WORKDIR NAME INPUT PROOF | {IDLE}", file=sys.stderr)
        return 2
    workdir, name, input_file, proof = argv
    try:
        result = open_circuit(name, Path(workdir)).prove(Path(input_file), Path(proof))
    except ProverError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps({"prove_s": result.prove_seconds, "peak_rss_bytes": peak_rss_bytes()}))
    return 0


def _run(*args: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "prover.measure.child", *args], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ["no output"]
        raise CircuitError(f"measurement child failed: {lines[-1][:300]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def prove_in_child(workdir: Path, name: str, input_file: Path, proof: Path) -> dict[str, Any]:
    """`prove_s` and `peak_rss_bytes` of one proof of circuit `name`, made in a fresh child."""
    return _run(str(workdir), name, str(input_file), str(proof))


def idle_child_rss() -> int:
    """Peak RSS of a child that imports the proving path and proves nothing."""
    return int(_run(IDLE)["peak_rss_bytes"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
