"""Signing keys kept encrypted: `--account NAME` instead of a raw `--private-key`.

The files are eth-account's JSON keystores (Web3 Secret Storage v3), in the folder where
`cast wallet import` puts them (`~/.foundry/keystores`), so a key imported with either
tool signs for both. `$PROVER_KEYSTORE_DIR` points elsewhere (tests, a second identity).
A password comes from `--password-file` or, on a terminal, a prompt; never from a flag,
where `ps` and the shell history would show it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_hex_address, to_checksum_address

from prover.artifacts import writing
from prover.errors import ChainError
from prover.jsonio import read_capped, read_json, restore_recursion_limit

restore_recursion_limit()  # eth_account pulls in py_ecc, which raises it

KEYSTORE_DIR_ENV = "PROVER_KEYSTORE_DIR"
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
IMPORT_HINT = "`prover account import NAME` stores a key; `prover account list` shows the names"


@dataclass(frozen=True)
class StoredAccount:
    name: str
    address: str
    path: Path


def keystore_dir() -> Path:
    override = os.environ.get(KEYSTORE_DIR_ENV)
    return Path(override) if override else Path.home() / ".foundry" / "keystores"


def keystore_path(name: str) -> Path:
    """The keystore file of account `name`; a name is a plain file name, never a path."""
    if not ACCOUNT_NAME.match(name):
        raise ChainError(
            f"invalid account name {name!r}", hint="letters, digits, '_', '-' and '.', not starting with a symbol"
        )
    return keystore_dir() / name


def read_password(password_file: Path | None, what: str, confirm: bool = False) -> str:
    """The password in `password_file` (one trailing newline dropped), else a prompt on a
    terminal; without either, an error that names the flag."""
    if password_file is not None:
        data = read_capped(Path(password_file), "password file", ChainError)
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise ChainError(
                f"password file {password_file} is not UTF-8 text", hint="write the password as text"
            ) from None
        return text.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise ChainError(f"no password for {what}", hint="pass --password-file FILE (stdin is not a terminal)")
    password = getpass.getpass(f"password for {what}: ")
    if confirm and getpass.getpass("again: ") != password:
        raise ChainError("the two passwords differ", hint="type the same password twice")
    return password


def load_account(name: str, password_file: Path | None = None) -> LocalAccount:
    """Decrypt keystore `name`; a wrong password is one line, not eth-account's MAC error."""
    path = keystore_path(name)
    if not path.exists():
        raise ChainError(f"no keystore named {name!r} in {keystore_dir()}", hint=IMPORT_HINT)
    document = read_json(path, f"keystore {name!r}", ChainError)
    if not isinstance(document, dict) or "crypto" not in {key.lower() for key in document}:
        raise ChainError(f"{path} is not a JSON keystore", hint=IMPORT_HINT)
    password = read_password(password_file, f"account {name!r}")
    try:
        key = Account.decrypt(document, password)
    except ValueError as exc:
        wrong = "MAC mismatch" in str(exc)
        raise ChainError(
            f"wrong password for account {name!r}" if wrong else f"cannot decrypt keystore {path}",
            hint="check --password-file" if wrong else IMPORT_HINT,
        ) from None
    return Account.from_key(key)


def _write_new(path: Path, document: dict[str, Any]) -> None:
    """Create `path` whole or not at all, never over an existing key: written to a 0600
    temp file beside it, then hard-linked into place (which fails if the name is taken)."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(document))
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                raise ChainError(
                    f"a keystore named {path.name!r} exists already", hint="pick another name, or remove that file"
                ) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def store_account(name: str, key: str | None, password: str) -> StoredAccount:
    """Encrypt `key` (a new random one if None) as keystore `name`."""
    path = keystore_path(name)
    if path.exists():
        raise ChainError(f"a keystore named {name!r} exists already", hint="pick another name, or remove that file")
    try:
        account = Account.from_key(key) if key is not None else Account.create()
    except (ValueError, TypeError):  # never echo the key
        raise ChainError("invalid private key", hint="a key is 32 bytes of hex: 0x + 64 digits") from None
    _write_new(path, Account.encrypt(account.key, password))
    return StoredAccount(name, str(account.address), path)


def stored_accounts() -> list[StoredAccount]:
    """Every keystore in the folder with the address it declares (read without decrypting)."""
    found = []
    folder = keystore_dir()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_file() or path.name.startswith(".") or not ACCOUNT_NAME.match(path.name):
            continue
        try:
            document = read_json(path, "keystore", ChainError)
        except ChainError:
            continue
        declared = document.get("address") if isinstance(document, dict) else None
        address = f"0x{str(declared).removeprefix('0x')}"
        found.append(StoredAccount(path.name, to_checksum_address(address) if is_hex_address(address) else "?", path))
    return found


def signing_key(private_key: str | None, account: str | None, password_file: Path | None) -> str | LocalAccount | None:
    """What signs a command's transactions: the raw key, the decrypted keystore, or nothing
    (the command then only reads, or the embedded node's dev account signs)."""
    if private_key and account:
        raise ChainError(
            "pass either --private-key or --account, not both",
            hint="drop one (PROVER_PRIVATE_KEY in the environment counts as --private-key)",
        )
    if account:
        return load_account(account, password_file)
    return private_key or None
