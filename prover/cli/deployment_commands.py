"""`prover deployments`: what a workdir recorded on each chain, and whether it is still there.

Like `forge`'s broadcast files or hardhat-deploy's deployments folder, the records are
plain JSON (`deployments/<chainId>.json`, ABIs beside them); this lists them. Without
`--rpc-url` every chain's file in the workdir is listed as recorded; with one, only that
chain's, each record checked against the node: live while its chain instance is the
recorded one and the code at its address is the recorded code, stale otherwise. Read-only:
no signing key is asked for or used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from prover.cli.base import JsonOpt, WorkdirOpt, app, emit_json, handles_errors
from prover.cli.render import stdout, warn
from prover.errors import ChainError

CheckRpcOpt = Annotated[
    Optional[str],
    typer.Option(
        "--rpc-url",
        envvar="PROVER_RPC_URL",
        help="List this node's chain only, each record marked live or stale; default: every chain's, unchecked.",
    ),
]
_COLUMNS = ("chain", "name", "contract", "address", "block", "gas", "compiler", "status")


@app.command("deployments")
@handles_errors
def deployments_command(
    rpc_url: CheckRpcOpt = None, workdir: WorkdirOpt = Path("."), json_out: JsonOpt = False
) -> None:
    """List the contracts and models recorded in the workdir's deployments/, per chain."""
    from prover.evm.client import connect
    from prover.evm.deployments import chain_records, recorded_chains

    rows: list[dict[str, Any]] = []
    if rpc_url is None:
        for chain_id in recorded_chains(workdir):
            try:
                rows += chain_records(workdir, chain_id)
            except ChainError as exc:  # one damaged file must not hide the others
                warn(exc.message)
    else:
        with connect(rpc_url) as chain:  # no key: a read-only session
            rows = chain_records(workdir, chain.chain_id, chain)
    if json_out:
        emit_json(rows)
        return
    if not rows:
        where = "for this chain " if rpc_url else ""
        warn(f"no deployments recorded {where}in {Path(workdir) / 'deployments'}")
        return
    columns = _COLUMNS if rpc_url else _COLUMNS[:-1]
    table = [list(columns)] + [[_cell(row, column) for column in columns] for row in rows]
    widths = [max(len(line[index]) for line in table) for index in range(len(columns))]
    for line in table:
        stdout.print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(),
            markup=False,
            soft_wrap=True,
        )


def _cell(row: dict[str, Any], column: str) -> str:
    """One column of a record, as the table shows it ('-' for what the record lacks)."""
    value: Any
    if column == "chain":
        value = row["chain_id"]
    elif column == "contract" and row["kind"] == "model":
        versions = ",".join(sorted(row.get("versions") or {}, key=int))
        value = f"model {row.get('model_id')}" + (f" v{versions}" if versions else "")
    elif column == "address" and row["kind"] == "model":
        value = row.get("registry")
    elif column == "block":
        value = row.get("block_number")
    elif column == "gas":
        value = f"{row['gas_used']:,}" if isinstance(row.get("gas_used"), int) else None
    elif column == "compiler":
        value = str(row.get("compiler") or "").split("+")[0] or None
    else:
        value = row.get(column)
    return "-" if value is None else str(value)
