"""One model registry per chain, found again from any workdir: `$PROVER_HOME/registries/<chainId>.json`.

A registry is where models meet: consumers pin it, third parties audit in it, owners hand
models over in it. If every workdir deployed its own, two projects on one chain (one
`prover node`, one testnet) would each see only their own models. So the registry a
user's first `register` deploys on a chain is recorded for the user, not the workdir,
and every later workdir on that chain finds it there.

The file has the shape of a workdir's deployments file and is written the same way:
atomically, under a lock (held while a registry is deployed, so two workdirs registering
at once deploy one), and stamped with the chain instance (genesis hash), so a restarted dev
chain's registry is never reused. Before reuse the code at the recorded address must still
be the code recorded there. A registry on an embedded anvil (one this process started,
gone when it ends) is never recorded: it could only ever mislead the next command.

The folder is `$PROVER_HOME`, else `$XDG_DATA_HOME/prover`, else `~/.local/share/prover`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prover.evm.client import Chain
from prover.evm.deployments import editing_records, holds_recorded_code, load_records

HOME_ENV = "PROVER_HOME"
REGISTRY_KEY = "ModelRegistry"
#: fields of a workdir's record that mean something only in that workdir
_WORKDIR_ONLY = ("abi",)


def prover_home() -> Path:
    """The user's own folder for what outlives a workdir (see the module's docstring)."""
    override = os.environ.get(HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    data = os.environ.get("XDG_DATA_HOME", "").strip() or "~/.local/share"
    return Path(data).expanduser() / "prover"


def chain_registries_path(chain_id: int) -> Path:
    return prover_home() / "registries" / f"{int(chain_id)}.json"


def chain_registry(chain: Chain) -> dict[str, Any] | None:
    """The record of this chain's registry, if this instance's and its code is still there."""
    if chain.node is not None:
        return None
    entry: Any = load_records(chain_registries_path(chain.chain_id), chain).get(REGISTRY_KEY)
    return dict(entry) if holds_recorded_code(chain, entry) else None


def chain_registry_or_deploy(chain: Chain, deploy: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """This chain's registry record, else `deploy()`'s (a workdir's record of the registry
    it deployed), recorded for the chain. The lock is held throughout, so a second workdir
    registering at the same time waits and then finds the first one's registry."""
    if chain.node is not None:
        return deploy()
    with editing_records(chain_registries_path(chain.chain_id), chain) as records:
        entry: Any = records.get(REGISTRY_KEY)
        if holds_recorded_code(chain, entry):
            return dict(entry)
        deployed = deploy()
        records[REGISTRY_KEY] = {key: value for key, value in deployed.items() if key not in _WORKDIR_ONLY}
        return deployed
