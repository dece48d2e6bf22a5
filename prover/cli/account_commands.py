"""`prover account`: encrypted keystores for `--account NAME`, as `cast wallet` keeps them.

Chain commands sign with `--account NAME` (+ `--password-file` or a prompt) instead of a
raw `--private-key` that shell history and `ps` would show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prover.cli.base import JsonOpt, PasswordFileOpt, app, emit_json, handles_errors
from prover.cli.render import stdout

account_app = typer.Typer(
    help="Encrypted signing keys for --account NAME (JSON keystores, shared with cast).",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(account_app, name="account")

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Account name (the keystore's file name).")]


def _key_from_prompt() -> str:
    import getpass
    import sys

    from prover.errors import ChainError

    if not sys.stdin.isatty():
        raise ChainError("no key to import", hint="pass --private-key KEY or set PROVER_PRIVATE_KEY")
    return getpass.getpass("private key: ")


def _show(account_name: str, address: str, path: Path, json_out: bool, verb: str) -> None:
    if json_out:
        emit_json({"name": account_name, "address": address, "keystore": str(path)})
        return
    stdout.print(f"{verb} account [bold]{account_name}[/] {address} in {path}", soft_wrap=True)


@account_app.command("import")
@handles_errors
def import_command(
    account_name: NameArg,
    private_key: Annotated[
        Optional[str],
        typer.Option(
            "--private-key", envvar="PROVER_PRIVATE_KEY", help="Key to store (else a prompt).", show_default=False
        ),
    ] = None,
    password_file: PasswordFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Encrypt a private key into keystore NAME."""
    from prover.evm.keystore import read_password, store_account

    key = private_key or _key_from_prompt()
    stored = store_account(account_name, key, read_password(password_file, f"new account {account_name!r}", True))
    _show(stored.name, stored.address, stored.path, json_out, "stored")


@account_app.command("new")
@handles_errors
def new_command(account_name: NameArg, password_file: PasswordFileOpt = None, json_out: JsonOpt = False) -> None:
    """Make a random key and store it, encrypted, as keystore NAME."""
    from prover.evm.keystore import read_password, store_account

    stored = store_account(account_name, None, read_password(password_file, f"new account {account_name!r}", True))
    _show(stored.name, stored.address, stored.path, json_out, "created")


@account_app.command("list")
@handles_errors
def list_command(json_out: JsonOpt = False) -> None:
    """The keystores --account can name, with their addresses (nothing is decrypted)."""
    from prover.evm.keystore import keystore_dir, stored_accounts

    found = stored_accounts()
    if json_out:
        emit_json([{"name": a.name, "address": a.address, "keystore": str(a.path)} for a in found])
        return
    if not found:
        from prover.cli.render import err

        err.print(f"no keystores in {keystore_dir()}; `prover account import NAME` adds one")
    for account in found:
        stdout.print(f"{account.name:<16} {account.address}", soft_wrap=True)
