"""Helpers for fault-injection tests: run a real program, hit it with a signal at a chosen
moment, and find every process it left behind.

A program is started with a unique `PROVER_FAULT_TAG` in its environment; every process
it starts inherits that variable (anvil, its guard, workers, measuring children), so
"left behind" means: a live process whose environment still carries the tag after the
program is gone. That works whatever re-parented the orphan (init, a subreaper) and never
confuses our processes with another test run's anvil.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVER = Path(sys.executable).with_name("prover")
TAG = "PROVER_FAULT_TAG"


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (dead, not yet reaped) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def tagged(tag: str) -> dict[int, str]:
    """Live processes carrying `tag` in their environment, with their command lines."""
    needle = f"{TAG}={tag}\0".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes() and pid_alive(int(entry.name)):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


@dataclass
class Tagged:
    """A program running with its own tag; `left_behind` after it is gone."""

    process: subprocess.Popen[bytes]
    tag: str
    stderr: Path
    killed: list[int] = field(default_factory=list)

    def descendants(self) -> dict[int, str]:
        return {pid: cmd for pid, cmd in tagged(self.tag).items() if pid != self.process.pid}

    def has(self, fragment: str) -> bool:
        return any(fragment in cmd for cmd in self.descendants().values())

    def send(self, signum: int) -> int | None:
        """Send `signum`; the program's exit code, None if it still runs after 60 s."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            return None

    def left_behind(self, grace: float = 10.0) -> dict[int, str]:
        """What still runs `grace` seconds after the program ended; killed, so the next test starts clean."""
        wait_until(lambda: not tagged(self.tag), grace)
        left = tagged(self.tag)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.killed.extend(left)
        return left

    def stop(self) -> None:
        """Make sure nothing of this program survives the test (a failed assertion included)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.left_behind(grace=0.0)


def start_tagged(
    command: Sequence[str | Path], stderr: Path, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> Tagged:
    """Start `command` with a fresh tag (and `env` on top of ours), stdout discarded and
    stderr to a file."""
    tag = uuid.uuid4().hex
    env = {**os.environ, **(env or {}), TAG: tag, "COLUMNS": "200", "NO_COLOR": "1"}
    with open(stderr, "wb") as sink:
        process = subprocess.Popen(
            [str(part) for part in command], stdout=subprocess.DEVNULL, stderr=sink, cwd=cwd, env=env
        )
    return Tagged(process, tag, stderr)


def python_program(script: str) -> list[str]:
    """A small Python program run by this interpreter from the project root."""
    return [sys.executable, "-c", script]


#: what a shell reports for a program that ended by signal N: 128 + N
def conventional_exit(signum: int) -> int:
    return 128 + signum


# --- what a fault left: leftovers, a manifest that lies, a report of the sweep ----------------

#: scratch a killed build or prove leaves in a circuit folder, and temp files anywhere
LEFTOVER_PATTERNS = ("*.tmp", ".settings-*", "tmp*", ".prove-*")


def leftovers(*folders: Path) -> list[str]:
    """Temp files and scratch folders directly in `folders` (the circuit's, the SRS cache)."""
    found: set[str] = set()
    for folder in folders:
        if folder.is_dir():
            for pattern in LEFTOVER_PATTERNS:
                found.update(str(path) for path in folder.glob(pattern))
    return sorted(found)


def manifest_lies(root: Path) -> list[str]:
    """Files the circuit's manifest names that are missing or differ from their recorded
    sha256 (the SRS it records included)."""
    from prover.artifacts import Manifest, sha256_file

    manifest = Manifest.model_validate_json((root / "manifest.json").read_text())
    named = [(root / record.path, record.sha256) for record in manifest.files.values()]
    if manifest.srs is not None:
        named.append((Path(manifest.srs.path), manifest.srs.sha256))
    return [
        f"{path}: {'missing' if not path.exists() else 'changed'}"
        for path, digest in named
        if not path.exists() or sha256_file(path) != digest
    ]


def record_outcome(fault: str, left: dict[int, str], problems: list[str]) -> None:
    """Append one fault's outcome to `$PROVER_FAULT_REPORT` (JSON lines), when set: how
    the sweep's counts are made (processes left behind, state lost or corrupt)."""
    report = os.environ.get("PROVER_FAULT_REPORT")
    if report:
        line = {"fault": fault, "processes_left": sorted(left.values()), "state_problems": problems}
        with open(report, "a") as out:
            out.write(json.dumps(line) + "\n")


def fault_command(point: str, signal_name: str, *args: str | Path) -> list[str]:
    """`prover ARGS` with SIGNAL sent right after the first call of `ezkl_api.POINT` (fault_child.py)."""
    return [sys.executable, str(ROOT / "tests" / "fault_child.py"), point, signal_name, "--", *map(str, args)]
