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
