"""Run the `prover` CLI with a fault at a chosen point: `python fault_child.py POINT SIGNAL -- ARGS...`.

POINT names a function of `prover.ezkl_api` (every ezkl call goes through that module);
right after its first call returns, which is when a stage's temp files exist and have
not yet been moved into place, the process sends itself SIGNAL (KILL, TERM, HUP, INT).
`POINT!` skips the calls the tuner makes in its scratch folders: the build's own stage.
The CLI then runs exactly as `prover ARGS...` would, in this process.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from prover import ezkl_api
from prover.artifacts import SCRATCH_PREFIX

SCRATCH = f"/{SCRATCH_PREFIX}"


def main(argv: list[str]) -> None:
    point, name, separator, *args = argv
    assert separator == "--", "usage: fault_child.py POINT SIGNAL -- ARGS..."
    own_stage = point.endswith("!")
    point = point.rstrip("!")
    original = getattr(ezkl_api, point)
    signum = getattr(signal, f"SIG{name}")

    def hit(*call_args: Any, **kwargs: Any) -> Any:
        result = original(*call_args, **kwargs)
        if own_stage and any(SCRATCH in str(arg) for arg in (*call_args, *kwargs.values())):
            return result
        setattr(ezkl_api, point, original)  # once
        os.kill(os.getpid(), signum)
        return result

    setattr(ezkl_api, point, hit)
    from prover.cli import app

    app(args, prog_name="prover")


if __name__ == "__main__":
    main(sys.argv[1:])
