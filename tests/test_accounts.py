"""`--account NAME` signs with an encrypted keystore; commands that only read need no key.

Against a real anvil started here, as a user's `prover node` would be: the keystore is
eth-account's format (what `cast wallet import` writes), a wrong password or a missing
keystore is one line, and `verify --onchain` / `audit` run with no key at all.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from conftest import assert_clean_error, run_cli
from eth_account import Account

from prover.evm.node import AnvilNode

# anvil's second dev account (public test key), so the first one stays the node's default
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SECOND_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

pytestmark = pytest.mark.chain


@pytest.fixture
def password(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text("correct horse battery staple\n")
    return path


def test_import_writes_a_keystore_cast_and_eth_account_read(keystores: Path, password: Path) -> None:
    result = run_cli(
        "account", "import", "alice_t1", "--private-key", SECOND_KEY, "--password-file", password, "--json"
    )
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["address"] == SECOND_ADDRESS
    path = keystores / "alice_t1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Account.decrypt(json.loads(path.read_text()), "correct horse battery staple").to_0x_hex() == SECOND_KEY
    listed = run_cli("account", "list", "--json")
    assert {"name": "alice_t1", "address": SECOND_ADDRESS} in [
        {k: row[k] for k in ("name", "address")} for row in json.loads(listed.stdout)
    ]
    again = run_cli("account", "import", "alice_t1", "--private-key", SECOND_KEY, "--password-file", password)
    assert_clean_error(again, "exists already")
    assert Account.decrypt(json.loads(path.read_text()), "correct horse battery staple")  # untouched


def test_keystore_errors_are_one_line(keystores: Path, password: Path, tmp_path: Path, built: Path) -> None:
    assert run_cli("account", "new", "bob_t2", "--password-file", password).code == 0
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope")
    common = ("--workdir", built, "--rpc-url", "http://127.0.0.1:9")
    assert_clean_error(
        run_cli("deploy", "fee", *common, "--account", "bob_t2", "--password-file", wrong), "wrong password"
    )
    assert_clean_error(
        run_cli("deploy", "fee", *common, "--account", "nobody", "--password-file", wrong), "no keystore"
    )
    assert_clean_error(
        run_cli("deploy", "fee", *common, "--account", "../x", "--password-file", wrong), "invalid account"
    )
    both = run_cli(
        "deploy", "fee", *common, "--account", "bob_t2", "--private-key", SECOND_KEY, "--password-file", password
    )
    assert_clean_error(both, "not both")
    no_password = run_cli("deploy", "fee", *common, "--account", "bob_t2")  # stdin is not a terminal here
    assert_clean_error(no_password, "--password-file")


def test_rpc_url_without_scheme_is_named(built: Path) -> None:
    result = run_cli("deploy", "fee", "--rpc-url", "localhost:8545", "--workdir", built)
    assert_clean_error(result, "not an http(s) URL")
    assert "None" not in result.stderr


def test_verify_without_a_proof_says_how_to_make_one(built: Path) -> None:
    assert_clean_error(run_cli("verify", "fee", "--workdir", built), "no proof of fee", "prover prove fee")


def test_account_deploys_and_read_only_commands_need_no_key(
    keystores: Path, password: Path, workdir_copy: Path, tmp_path: Path
) -> None:
    assert run_cli("account", "import", "carol_t3", "--private-key", SECOND_KEY, "--password-file", password).code == 0
    example = tmp_path / "input.json"
    assert run_cli("example", "fee", "--workdir", workdir_copy, "--out", example).code == 0
    proved = run_cli("prove", "fee", "--input", example, "--workdir", workdir_copy)
    assert proved.code == 0, proved.stderr
    with AnvilNode(tmp_path / "anvil.log") as node:
        common = ("--rpc-url", node.rpc_url, "--workdir", workdir_copy)
        unsigned = run_cli("verify", "fee", "--onchain", *common, env={"PROVER_PRIVATE_KEY": ""})
        assert_clean_error(unsigned, "no verifier of fee recorded")  # nothing deployed yet, and no key to deploy
        deployed = run_cli("deploy", "fee", *common, "--account", "carol_t3", "--password-file", password, "--json")
        assert deployed.code == 0, deployed.stderr
        verifier = json.loads(deployed.stdout)["verifier"]
        sender = node.w3.eth.get_transaction_by_block(1, 0)["from"]
        assert sender == SECOND_ADDRESS  # the keystore's account signed, not the node's first
        # read-only: no --private-key, no --account, no PROVER_PRIVATE_KEY; default proof path
        verified = run_cli("verify", "fee", "--onchain", *common, "--json", env={"PROVER_PRIVATE_KEY": ""})
        assert verified.code == 0, verified.stderr
        assert json.loads(verified.stdout)["verifier"] == verifier and json.loads(verified.stdout)["valid"]
        # a command that must send says so by name, before sending anything
        block = node.w3.eth.block_number
        register = run_cli("register", "fee", *common, env={"PROVER_PRIVATE_KEY": ""})
        assert_clean_error(register, "no signing key")
        assert node.w3.eth.block_number == block
