"""The `prover` command line: a thin typer layer over the pipeline functions.

Human output (stage spinners, tables, warnings) goes to stderr; `--json` prints one
machine-readable document on stdout. A `ProverError` becomes `error:` + `hint:` lines
and its exit code; nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from prover.errors import ProverError

app = typer.Typer(
    help="Prove small models' inference with ezkl; verify the proofs off-chain and on-chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])

WorkdirOpt = Annotated[Path, typer.Option("--workdir", "-w", help="Folder holding circuits/ (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable results on stdout.")]
RpcOpt = Annotated[Optional[str], typer.Option("--rpc-url", envvar="PROVER_RPC_URL",
                                               help="RPC node; default: an embedded anvil.")]
SettingsOpt = Annotated[Optional[str], typer.Option(
    "--settings", help="tuned (default: search for the cheapest circuit) | manual | ezkl-default (baseline)")]
MaxErrorOpt = Annotated[Optional[float], typer.Option(help="Tuner bound: max |circuit - float| on held-out data.")]
MinAgreementOpt = Annotated[Optional[float], typer.Option(help="Tuner bound: share of equal decisions (default 1.0).")]
ObjectiveOpt = Annotated[Optional[str], typer.Option(help="Tuner objective: prove | gas | balanced (default).")]
KeyOpt = Annotated[Optional[str], typer.Option("--private-key", envvar="PROVER_PRIVATE_KEY",
                                               help="Signing key (env PROVER_PRIVATE_KEY).", show_default=False)]


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


def tuning_overrides(settings: str | None, max_error: float | None, min_agreement: float | None,
                     objective: str | None) -> dict[str, object]:
    """Config overrides from the tuning flags shared by `build` and `tune` (None: unset)."""
    values = {"settings": settings, "max_error": max_error, "min_agreement": min_agreement, "objective": objective}
    return {key: value for key, value in values.items() if value is not None}


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


class RichReporter:
    """Spinner while a stage runs, then one line with its status and elapsed time.

    Stages nest (the tuner reports inside the settings stage): rich allows one live
    spinner, so the inner one replaces the outer until it finishes.
    """

    def __init__(self) -> None:
        self._status: Any = None
        self._open: list[str] = []

    def _spin(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._open:
            self._status = err.status(self._open[-1], spinner="dots")
            self._status.start()

    def stage_started(self, stage: str, detail: str) -> None:
        self._open.append(f"{stage} {detail}".strip())
        self._spin()

    def stage_finished(self, stage: str, status: str, seconds: float, detail: str) -> None:
        if self._open:
            self._open.pop()
        if self._status is not None:
            self._status.stop()
            self._status = None
        mark = {"done": "[green]✓[/]", "cached": "[dim]·[/]"}.get(status, "[red]✗[/]")
        shown = status if status != "done" else f"{seconds:6.2f}s"
        err.print(f"{mark} {stage:<9} {shown:>8}  [dim]{detail}[/]")
        self._spin()

    def warn(self, message: str) -> None:
        err.print(f"[bold yellow]warning:[/] {message}", soft_wrap=True)


def show_table(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    err.print(table)


from prover import commands  # noqa: E402,F401  (registers the commands on `app`)
from prover import chain_commands  # noqa: E402,F401
from prover import batch_commands  # noqa: E402,F401
from prover import tuning_commands  # noqa: E402,F401
from prover import compare_commands  # noqa: E402,F401
from prover import registry_commands  # noqa: E402,F401
