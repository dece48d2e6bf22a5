"""The `prover` app and what every command shares: options, error handling, JSON output.

Human output (stage spinners, tables, warnings) goes to stderr; `--json` prints one
machine-readable document on stdout. A `ProverError` becomes `error:` + `hint:` lines
and its exit code; nothing a user can cause ends in a traceback. Command modules import
this one; this one imports none of them (`prover.cli` wires them up).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Literal, Optional, TypeVar

import typer

from prover.cli.render import print_error
from prover.errors import ProverError

# Plain click help, as forge and cast print it: typer's rich help labels every flag `<bool>`
# (so `--json true` looks valid, and is not) while plain help shows flags bare and choices
# as `<a|b|c>`. rich still draws every result and every progress line.
app = typer.Typer(
    help="Prove small models' inference with ezkl; verify the proofs off-chain and on-chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
F = TypeVar("F", bound=Callable[..., Any])


def ray_address_for(backend: str, ray_address: str | None) -> str | None:
    """The cluster `--backend ray` joins: the flag, else $RAY_ADDRESS (which Ray itself sets
    for a job's entrypoint; read only for the Ray backend, so it never stops the pool),
    else None for a local instance. The flag with another backend is an error."""
    if backend != "ray":
        if ray_address:
            raise ProverError("--ray-address is for --backend ray", hint="add --backend ray, or drop --ray-address")
        return None
    return ray_address or os.environ.get("RAY_ADDRESS") or None


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
AccountOpt = Annotated[
    Optional[str],
    typer.Option(
        "--account",
        envvar="PROVER_ACCOUNT",
        help="Sign with this encrypted keystore (`prover account list`; cast's ~/.foundry/keystores).",
    ),
]
PasswordFileOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--password-file", envvar="PROVER_PASSWORD_FILE", help="The --account keystore's password (else a prompt)."
    ),
]
BackendOpt = Annotated[
    Literal["pool", "ray"],
    typer.Option("--backend", help="pool: worker processes on this machine; ray: a Ray cluster (see docs/cluster.md)."),
]
RayAddressOpt = Annotated[
    Optional[str],
    typer.Option(
        "--ray-address",
        help="With --backend ray: the cluster to join (auto, HOST:6379); default: $RAY_ADDRESS, else a local "
        "Ray instance.",
    ),
]
SettingsOpt = Annotated[
    Optional[Literal["tuned", "manual", "ezkl-default"]],
    typer.Option(
        "--settings",
        help="tuned (default: search for the cheapest circuit), manual, or ezkl-default (the baseline).",
    ),
]
MaxErrorOpt = Annotated[
    Optional[float], typer.Option(help="Tuner bound: one absolute max |circuit - float| for every output.")
]
MaxRelErrorOpt = Annotated[
    Optional[float],
    typer.Option(help="Tuner bound: max |circuit - float| per output over its max |value| (default 0.01)."),
]
DecisionOpt = Annotated[
    Optional[str],
    typer.Option(
        metavar="<argmax|threshold:T>",
        help="Outputs are a classification: judged on agreement, near-ties aside.",
    ),
]
MinAgreementOpt = Annotated[Optional[float], typer.Option(help="Tuner bound: share of equal decisions (default 1.0).")]
ObjectiveOpt = Annotated[
    Optional[Literal["prove", "gas", "balanced"]],
    typer.Option(help="Tuner objective: proving cost, verification gas, or balanced (default)."),
]
TuneBudgetOpt = Annotated[
    Optional[float],
    typer.Option(
        help="Tuning work in seconds, estimated from circuit sizes (default 120); then the best so far wins. "
        "0: ezkl's own calibrated settings."
    ),
]
MaxLogrowsOpt = Annotated[Optional[int], typer.Option(help="No circuit above 2^N rows (default 24).")]
CoverageOpt = Annotated[
    Optional[Literal["calibration", "input-box"]],
    typer.Option(help="Size lookups for the calibration data (default, like ezkl) or the whole input box."),
]


def _print_version(asked: bool) -> None:
    """From the installed distribution's metadata: importing `prover` itself would load the library."""
    if asked:
        sys.stdout.write(f"prover {importlib.metadata.version('zkml-prover')}\n")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Prove small models' inference with ezkl; verify the proofs off-chain and on-chain."""


#: what a service manager, a closed terminal or `kill` sends to stop a command (Ctrl-C is KeyboardInterrupt)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stops_cleanly_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind the command as Ctrl-C does, so every `with` block cleans up
    (the embedded node stops, temp files go, locks are released) and the exit code is the
    shell's 128 + N. Without this, Python dies on the spot and only the node's guard acts.
    A signal someone set to be ignored (nohup) stays ignored; a second signal, arriving
    while the first unwinds, kills at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def stop(signum: int, _frame: FrameType | None) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)
        raise SystemExit(128 + signum)

    for stop_signal in STOP_SIGNALS:
        if signal.getsignal(stop_signal) == signal.SIG_DFL:
            previous[stop_signal] = signal.signal(stop_signal, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def handles_errors(command: F) -> F:
    """One line + hint on stderr and the error's exit code, instead of a traceback; a stop
    signal ends the command cleanly (`stops_cleanly_on_signals`)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with stops_cleanly_on_signals():
                return command(*args, **kwargs)
        except ProverError as exc:
            print_error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def signer(private_key: str | None, account: str | None, password_file: Path | None) -> Any:
    """The key a chain command signs with (`prover.evm.keystore.signing_key`), imported when
    a command runs so `prover --help` does not load eth-account."""
    from prover.evm.keystore import signing_key  # noqa: PLC0415 - see the docstring

    return signing_key(private_key, account, password_file)


def overrides_from(**flags: object) -> dict[str, object]:
    """Config overrides from command flags; a flag left unset (None) keeps the recorded value."""
    return {key: value for key, value in flags.items() if value is not None}


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()
