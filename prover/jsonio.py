"""JSON from outside, read without trusting it: bounded in size, kind of file, depth and digits.

Every JSON file the toolkit reads that a user can hand it or edit (input and data files,
proof files, a circuit's settings and manifest) goes through `read_json`, because the
standard library fails badly on hostile files:

- `json.loads` recurses in C once per nesting level. py_ecc (which web3 imports) raises the
  recursion limit to 100000, so 100k `[` overflow the C stack and the process dies of
  SIGSEGV instead of raising. The depth is measured first, without recursion.
- reading trusts the file: `/dev/zero` never ends (a 23 GB read, then the OOM killer) and
  a FIFO blocks forever. Only regular files up to `max_json_bytes()` are read; the cap is
  `$PROVER_MAX_JSON_MIB` (default 256).
- an integer of more than 4300 digits makes `json.loads` raise a bare ValueError
  (CPython's limit on int parsing).

Each failure is the caller's `ProverError` subclass with one line naming the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import numpy as np

from prover.errors import ProverError, first_line

MAX_JSON_DEPTH = 64
MAX_JSON_ENV = "PROVER_MAX_JSON_MIB"
DEFAULT_MAX_JSON_MIB = 256
#: CPython's default; the limit every entry point that does not import web3 runs with
SANE_RECURSION_LIMIT = 1000
MIB = 1 << 20

#: a JSON string (escapes included), matched without backtracking
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
#: +1 for an opening bracket, -1 for a closing one, 0 for any other byte
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_CHUNK = 1 << 24


def max_json_bytes() -> int:
    """The largest JSON file read, from `$PROVER_MAX_JSON_MIB` (whole MiB, default 256)."""
    text = os.environ.get(MAX_JSON_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_JSON_MIB * MIB
    if not text.isdigit() or int(text) == 0:
        raise ProverError(
            f"{MAX_JSON_ENV}={text!r} is not a size", hint=f"give a whole number of MiB, e.g. {MAX_JSON_ENV}=512"
        )
    return int(text) * MIB


def read_capped(path: Path, what: str, error: type[ProverError] = ProverError, hint: str | None = None) -> bytes:
    """The bytes of a regular file no larger than the JSON cap; anything else is `error`.

    The file is opened without blocking and checked through its descriptor, so a path
    swapped for a FIFO or a device between a check and the read cannot hang or flood us.
    """
    path, cap = Path(path), max_json_bytes()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist", hint=hint or "check the path") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or first_line(exc)}", hint=hint) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{what} {path} is a folder, not a file", hint=hint or "pass the path of a JSON file")
        if not stat.S_ISREG(info.st_mode):
            raise error(
                f"{what} {path} is not a regular file (a device, FIFO or socket)",
                hint=hint or "pass the path of a JSON file",
            )
    except BaseException:
        os.close(fd)
        raise
    too_big = error(
        f"{what} {path} is larger than the {cap // MIB} MiB allowed for a JSON file",
        hint=hint or f"set {MAX_JSON_ENV} to a larger number of MiB if it really is that large",
    )
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > cap:
            raise too_big
        try:
            data = handle.read(cap + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or first_line(exc)}", hint=hint) from None
    if len(data) > cap:  # it grew while we read it
        raise too_big
    return data


def json_depth(data: bytes) -> int:
    """How deep brackets nest outside strings, counted in linear time without recursion."""
    plain = _STRING.sub(b'""', data) if b'"' in data else data
    view = np.frombuffer(plain, dtype=np.uint8)
    deepest = level = 0
    for start in range(0, len(view), _CHUNK):
        steps = _STEP[view[start : start + _CHUNK]]
        steps = steps[steps != 0]
        if steps.size:
            running = np.cumsum(steps, dtype=np.int64) + level
            deepest = max(deepest, int(running.max()))
            level = int(running[-1])
    return deepest


def parse_json(data: bytes, source: str, error: type[ProverError] = ProverError, hint: str | None = None) -> Any:
    """`data` (UTF-8 JSON; NaN and Infinity allowed, as ezkl writes them) as Python values."""
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise error(f"{source} nests {depth} levels deep, more than the {MAX_JSON_DEPTH} JSON may here", hint=hint)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{source} is not valid JSON (not UTF-8 text)", hint=hint) from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", hint=hint
        ) from None
    except ValueError:  # the only other ValueError json raises: CPython's int digit limit
        raise error(f"{source} holds an integer too long to read (over 4300 digits)", hint=hint) from None
    except RecursionError:  # depth is bounded above; a deep call stack could still meet the limit
        raise error(f"{source} nests too deeply to read", hint=hint) from None


def read_json(path: Path, what: str, error: type[ProverError] = ProverError, hint: str | None = None) -> Any:
    """A JSON file from outside as Python values; every way it can be unreadable is `error`,
    one line starting with `what` and the path (`hint` replaces the error's default hint)."""
    return parse_json(read_capped(path, what, error, hint), f"{what} {path}", error, hint)


def restore_recursion_limit() -> None:
    """Undo py_ecc's recursion limit (100000, set when web3 is imported): that deep, C code
    such as the JSON parser overflows the stack and segfaults before Python can raise."""
    if sys.getrecursionlimit() > SANE_RECURSION_LIMIT:
        sys.setrecursionlimit(SANE_RECURSION_LIMIT)
