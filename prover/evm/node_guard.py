"""The embedded node's guard: runs the node as its child and takes the node's whole process
group down when the program that started it dies, however it dies.

Run as `python -I -S node_guard.py FD [--remove LOG] -- COMMAND...` (standard library only,
so it starts in milliseconds). FD is the read end of a pipe whose write end only the
starting program holds: when that program ends (exit, crash, SIGKILL, OOM kill) the kernel
closes the write end, the guard reads EOF, TERMs the group, KILLs what is left after a
grace period, and removes LOG (the node's temp log) if asked.

Why not a parent-death signal on the node itself (`setpriv --pdeathsig`, as before): it
fires when the *thread* that forked the node ends, so a node started from a helper thread
died with that thread; it reaches only the direct child, so the real anvil behind a
wrapper (npm's node wrapper, any `$PROVER_ANVIL` script) survived; and it needed
util-linux's `setpriv` on `$PATH`, without which nothing stopped the node at all. The pipe
is owned by the program, not a thread, and the guard kills the group, not one process.
The guard does give the node a parent-death signal for its own death (the guard has one
thread, so there the signal means what it says).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
GRACE_S = 5.0
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def _die_with_guard(guard: int) -> None:
    """In the forked node, before exec: TERM it when the guard dies (Linux), and give up if
    the guard is already gone (the signal would never come)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != guard:
        os._exit(1)


def _spawn(command: list[str]) -> int:
    """Fork and exec the node; fork, not subprocess, so the child can set its own
    parent-death signal between the two (the guard is single-threaded, so that is safe)."""
    guard = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            _die_with_guard(guard)
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"node guard: cannot run {command[0]}: {exc.strerror}\n".encode())
        os._exit(127)
    return child


def _exit_code(status: int) -> int:
    """The child's exit code, or the shell's 128 + N for death by signal N."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _take_down(child: int, remove: str | None) -> None:
    """The owner is gone: TERM the group, wait out the grace period, KILL the rest (the
    guard included, which is the last thing it does)."""
    if remove:
        with contextlib.suppress(OSError):
            os.unlink(remove)
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(child, os.WNOHANG)[0]:
                break
        time.sleep(0.05)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Guard the node until it exits (its exit code is the guard's) or the owner is gone."""
    watch, rest = int(argv[1]), argv[2:]
    remove = None
    if rest[:1] == ["--remove"]:
        remove, rest = rest[1], rest[2:]
    command = rest[1:] if rest[:1] == ["--"] else rest
    child = _spawn(command)

    def forward(received: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(child, received)

    for signum in FORWARDED:  # a signal to the guard alone reaches the node; the guard waits for it
        signal.signal(signum, forward)
    try:
        exited = os.pidfd_open(child)
    except (AttributeError, OSError):
        exited = None
    while True:
        watched = [watch] if exited is None else [watch, exited]
        ready, _, _ = select.select(watched, [], [], 0.2 if exited is None else None)
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return _exit_code(status)
        if watch in ready and not os.read(watch, 1):
            _take_down(child, remove)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
