"""Files a process owns while it runs, named so whoever comes next knows who that was.

A lock file names its holder, so a second build waits and says for whom. A temp file
(`atomic_path`'s, beside its target) carries its writer's host and pid in its name, so
the next writer in that folder removes the temp files of writers that are dead: a
SIGKILL, an OOM kill or a power cut runs no cleanup, and without a name saying whose a
temp file is, no one could tell a dead writer's file from a live one's.

Liveness is `kill(pid, 0)` on this host; a temp file from another host (a shared folder)
is never touched, and a recycled pid only delays the cleanup until that process ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

#: `<anything>~<host>-<pid>~<anything>.tmp`: a temp file or folder and who made it
OWNED_TEMP = re.compile(r"~(?P<host>[0-9a-f]{8})-(?P<pid>\d+)~[^/]*\.tmp$")
log = logging.getLogger(__name__)


def _host() -> str:
    """This machine, in eight hex digits (a hostname may hold anything a file name cannot)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def owner_tag() -> str:
    """`<host>-<pid>` of this process, read at each call (a forked child is another owner)."""
    return f"{_host()}-{os.getpid()}"


def temp_prefix(name: str) -> str:
    """The prefix of a temp file standing in for `name` (hidden, with its owner); the
    caller adds a random part and `.tmp`, as `tempfile.mkstemp(prefix=..., suffix=".tmp")` does."""
    return f".{name}~{owner_tag()}~"


@contextlib.contextmanager
def owned_temp_dir(parent: Path, name: str) -> Iterator[Path]:
    """A scratch folder in `parent` named for its owner (see `temp_prefix`), removed on exit;
    dead owners' scratch in `parent` is removed first, so a SIGKILL leaves it only until the
    next run there."""
    remove_dead_temps(parent)
    with tempfile.TemporaryDirectory(dir=parent, prefix=temp_prefix(name), suffix=".tmp") as scratch:
        yield Path(scratch)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_dead_temps(folder: Path) -> list[Path]:
    """Remove the temp files and folders directly in `folder` whose owner, on this host,
    is no longer running; what was removed. Cheap (one directory listing), so every
    atomic write calls it for its own folder."""
    removed: list[Path] = []
    host = _host()
    with contextlib.suppress(OSError):  # best effort: never fails the write that called it
        for entry in os.scandir(folder):
            match = OWNED_TEMP.search(entry.name)
            if match is None or match["host"] != host or _alive(int(match["pid"])):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed.append(path)
    return removed


def _holder(lock: Path) -> str:
    """Who holds `lock`, as its holder wrote it: "pid N", or "another process"."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(lock.read_text().split()[0])
        return f"pid {pid}"
    return "another process"


@contextlib.contextmanager
def exclusive(lock: Path, what: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the flock on `lock` for the block, writing our pid into it; the lock dies with
    the process. If another process holds it, say so once (`on_wait`, else a warning on
    the `prover.owners` logger, which Python prints on stderr when nothing else is set
    up) and wait for it."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:  # "a+": opening must not erase the holder's pid
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            message = f"waiting for {_holder(lock)}, which holds {what} ({lock})"
            (on_wait or log.warning)(message)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
