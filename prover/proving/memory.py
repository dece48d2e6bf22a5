"""How many proving workers fit in memory: one worker's predicted peak, and what is free.

A batch that starts more workers than fit gets them killed mid-proof by the kernel, so
the pool is sized before anything starts. One worker costs its idle interpreter, its
staged copy of the key material (tmpfs is RAM) and the prover's working set, which is
linear in the size of that key material (pk + SRS + compiled circuit).

Calibration (ezkl 23.0.5, peak RSS of a child measured with os.wait4, worker imports
measured with /proc/self/status):

- idle worker (python + the proving package: ezkl, numpy, pydantic): 51 MB
- fee    (key material 6.17 MB: pk 5.90, SRS k=11 0.26):  working set 21.3 MB with 1
  rayon thread, 24.8 MB with 2
- digits (key material 35.7 MB: pk 34.6, SRS k=13 1.05): working set 87.5 MB with 1
  thread, 111.5 MB with 2

A line through the two 1-thread points is 7.5 MB + 2.24 x key material; each extra
thread adds about 0.7 x (2-thread fit: 6.7 MB + 2.94 x). The constants below round up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from prover.artifacts import CircuitPaths
from prover.errors import ProverError

MIB = 1 << 20
IDLE_WORKER_BYTES = 56 * MIB
PROVE_BASE_BYTES = 8 * MIB
WORKING_SET_PER_KEY_BYTE = 2.25
WORKING_SET_PER_EXTRA_THREAD = 0.75
UNLIMITED = 1 << 60  # cgroup v1 writes ~2^63 for "no limit"


@dataclass(frozen=True)
class WorkerPlan:
    """The pool a batch runs with, and the figures that decided it."""

    requested: int
    workers: int
    threads: int
    staged_bytes: int
    predicted_worker_bytes: int
    available_bytes: int
    lowered_reason: str | None = None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """Split the cores among workers so K workers x threads never oversubscribes them."""
    return max(1, usable_cores() // workers)


def staged_bytes(paths: CircuitPaths, srs: Path) -> int:
    """What each worker copies into RAM: compiled circuit, pk and SRS."""
    return sum(path.stat().st_size for path in (paths.compiled, paths.pk, srs))


def predict_worker_bytes(staged: int, threads: int) -> int:
    """One worker's peak: idle interpreter + staged copy + proving working set."""
    factor = WORKING_SET_PER_KEY_BYTE + WORKING_SET_PER_EXTRA_THREAD * (threads - 1)
    return int(IDLE_WORKER_BYTES + staged + PROVE_BASE_BYTES + factor * staged)


def available_memory() -> int:
    """MemAvailable, or the cgroup's headroom (limit minus usage) when that is smaller."""
    available = _meminfo_available()
    headroom = _cgroup_headroom()
    return min(available, headroom) if headroom is not None else available


def proc_kib_field(path: str, key: str) -> int | None:
    """A `Key:   N kB` line of a /proc file, in bytes (None where /proc cannot tell)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set: VmHWM, which exec resets.

    getrusage's ru_maxrss would not do: Linux carries it across exec, so a spawned
    child would report the RSS of the parent it was forked from (290 MB for the CLI).
    """
    return proc_kib_field("/proc/self/status", "VmHWM") or 0


def _meminfo_available() -> int:
    return proc_kib_field("/proc/meminfo", "MemAvailable") or UNLIMITED


def _cgroup_headroom() -> int | None:
    """cgroup v2 memory.max - memory.current, else v1 limit_in_bytes - usage_in_bytes."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= UNLIMITED:
            return None
        return max(0, int(limit_text) - usage)
    return None


def plan_workers(
    paths: CircuitPaths, srs: Path, requested: int, tasks: int, memory_limit: int | None = None
) -> WorkerPlan:
    """The most workers (at most `requested`, at most one per task) whose peaks fit in memory.

    Fewer workers get more threads each, and threads cost memory, so each candidate K is
    priced with its own thread count. If not even one worker fits, one runs anyway (that
    is what `prover prove` would do) and the reason says so.
    """
    if requested < 1:
        raise ProverError(f"--workers must be at least 1, not {requested}")
    if memory_limit is not None and memory_limit < 1:
        raise ProverError(f"--memory-limit must be a positive number of bytes, not {memory_limit}")
    staged = staged_bytes(paths, srs)
    available = available_memory()
    if memory_limit is not None:
        available = min(available, memory_limit)
    wanted = min(requested, tasks)
    workers = wanted
    while workers > 1 and workers * predict_worker_bytes(staged, threads_per_worker(workers)) > available:
        workers -= 1
    predicted = predict_worker_bytes(staged, threads_per_worker(workers))
    reason = None
    if workers < wanted:
        needed = wanted * predict_worker_bytes(staged, threads_per_worker(wanted))
        reason = (
            f"lowered workers from {wanted} to {workers}: {wanted} workers need about "
            f"{needed / MIB:.0f} MiB, {available / MIB:.0f} MiB is available"
        )
    elif predicted > available:
        reason = (
            f"one worker needs about {predicted / MIB:.0f} MiB but only {available / MIB:.0f} MiB "
            "is available; proving with 1 worker anyway"
        )
    return WorkerPlan(
        requested=requested,
        workers=workers,
        threads=threads_per_worker(workers),
        staged_bytes=staged,
        predicted_worker_bytes=predicted,
        available_bytes=available,
        lowered_reason=reason,
    )
