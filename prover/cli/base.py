"""The `prover` app and what every command shares: options, error handling, JSON output.

Human output (stage spinners, tables, warnings) goes to stderr; `--json` prints one
machine-readable document on stdout. A `ProverError` becomes `error:` + `hint:` lines
and its exit code; nothing a user can cause ends in a traceback. Command modules import
this one; this one imports none of them (`prover.cli` wires them up).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from prover.cli.render import err
from prover.errors import ProverError

app = typer.Typer(
    help="Prove small models' inference with ezkl; verify the proofs off-chain and on-chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
F = TypeVar("F", bound=Callable[..., Any])

WorkdirOpt = Annotated[Path, typer.Option("--workdir", "-w", help="Folder holding circuits/ (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable results on stdout.")]
RpcOpt = Annotated[
    Optional[str], typer.Option("--rpc-url", envvar="PROVER_RPC_URL", help="RPC node; default: an embedded anvil.")
]
KeyOpt = Annotated[
    Optional[str],
    typer.Option(
        "--private-key", envvar="PROVER_PRIVATE_KEY", help="Signing key (env PROVER_PRIVATE_KEY).", show_default=False
    ),
]
SettingsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--settings", help="tuned (default: search for the cheapest circuit) | manual | ezkl-default (baseline)"
    ),
]
MaxErrorOpt = Annotated[Optional[float], typer.Option(help="Tuner bound: max |circuit - float| on held-out data.")]
MinAgreementOpt = Annotated[Optional[float], typer.Option(help="Tuner bound: share of equal decisions (default 1.0).")]
ObjectiveOpt = Annotated[Optional[str], typer.Option(help="Tuner objective: prove | gas | balanced (default).")]


def handles_errors(command: F) -> F:
    """One line + hint on stderr and the error's exit code, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ProverError as exc:
            err.print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
            if exc.hint:
                err.print(f"[dim]hint:[/] {exc.hint}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def tuning_overrides(
    settings: str | None, max_error: float | None, min_agreement: float | None, objective: str | None
) -> dict[str, object]:
    """Config overrides from the tuning flags shared by `build` and `tune` (None: unset)."""
    values = {"settings": settings, "max_error": max_error, "min_agreement": min_agreement, "objective": objective}
    return {key: value for key, value in values.items() if value is not None}


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()
