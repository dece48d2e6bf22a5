"""`prover pool` and the node flow, through the real CLI against real anvils.

The flow is the README's: `prover node` in one process, then build, deploy, status,
submit (refused by name before the pool has its prices), record prices, submit, status,
each a `prover` subprocess, on a chosen port and a chain id that is not 31337.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, assert_clean_error, run_cli
from contract_env import SECOND_KEY
from faults import PROVER, TAG, Tagged, conventional_exit, wait_until
from web3 import Web3

from models.fee import START_PRICE
from prover.consumers.fee.operations import PRICE_LIMIT, check_prices, simulated_stretch
from prover.errors import ProverError
from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode

pytestmark = pytest.mark.chain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Session:
    """A workdir with the fee circuit and the chain commands' common options."""

    work: Path
    rpc_url: str
    key: str

    def run(self, *args: str | Path, key: str | None = None, **kwargs: Any) -> CliResult:
        """`prover ARGS --rpc-url URL --workdir WORK`, signing with `key` (by default the
        session's, none for `pool status`, which takes none; "" for none: PROVER_PRIVATE_KEY
        is always emptied)."""
        key = ("" if tuple(args[:2]) == ("pool", "status") else self.key) if key is None else key
        signing = ("--private-key", key) if key else ()
        env = {"PROVER_PRIVATE_KEY": ""}
        return run_cli(*args, "--rpc-url", self.rpc_url, *signing, "--workdir", self.work, env=env, **kwargs)

    def json(self, *args: str | Path, key: str | None = None) -> Any:
        result = self.run(*args, "--json", key=key)
        assert result.code == 0, result.stderr
        return json.loads(result.stdout)


def fee_workdir(built: Path, target: Path) -> Path:
    shutil.copytree(built / "circuits" / "fee", target / "circuits" / "fee")
    return target


def test_node_flow_end_to_end(built: Path, tmp_path: Path) -> None:
    """`prover node --port P --chain-id 4242`, then build, deploy, status, submit before prices
    (one error naming the command that records them, nothing sent), record-price, simulate,
    submit, status; then SIGINT stops the node (exit 130)."""
    work = fee_workdir(built, tmp_path / "work")
    tag, out = uuid.uuid4().hex, tmp_path / "node.json"
    env = {**os.environ, TAG: tag, "NO_COLOR": "1"}
    with open(out, "wb") as sink, open(tmp_path / "node.stderr", "wb") as errors:
        process = subprocess.Popen(
            [
                str(PROVER),
                "node",
                "--port",
                str(free_port()),
                "--chain-id",
                "4242",
                "--workdir",
                str(tmp_path),
                "--json",
            ],
            stdout=sink,
            stderr=errors,
            env=env,
        )
    node = Tagged(process, tag, tmp_path / "node.stderr")
    try:
        assert wait_until(lambda: "stops the node" in node.stderr.read_text() or process.poll() is not None, 60)
        started = json.loads(out.read_text())
        session = Session(work, started["rpc_url"], started["accounts"][0]["private_key"])
        w3 = Web3(Web3.HTTPProvider(session.rpc_url))

        built_again = run_cli("build", "fee", "--workdir", work)
        assert built_again.code == 0, built_again.stderr
        deployed = session.json("deploy", "fee")
        assert deployed["chain_id"] == 4242 and deployed["consumer"] == "fee"

        status = session.json("pool", "status")  # reads need no key
        assert status["address"] == deployed["address"] and status["chain_id"] == 4242
        assert (status["observations"], status["fee_bps"], status["can_update"]) == (0, 30, False)

        block = w3.eth.block_number
        early = session.run("submit", "fee")
        assert_clean_error(early, "NotEnoughObservations(0, 9)", "prover pool record-price")
        assert w3.eth.block_number == block, "nothing was sent"

        recorded = session.json("pool", "record-price", "200000000000", "201000000000")
        assert [p["price"] for p in recorded["recorded"]] == [200000000000, 201000000000]
        assert (recorded["observations"], recorded["provable"]) == (2, False)
        short = session.run("submit", "fee")
        assert_clean_error(short, "NotEnoughObservations(2, 9)", "records 7 more")

        simulated = session.json("pool", "simulate", "volatile")
        assert (simulated["observations"], simulated["provable"]) == (11, True)

        submitted = session.json("submit", "fee")
        assert submitted["epoch"] == 11 and submitted["old_fee_bps"] == 30

        after = session.json("pool", "status")
        assert after["fee_bps"] == submitted["new_fee_bps"]
        assert after["last_update_epoch"] == 11 and after["can_update"] is False
        assert "already updated" in after["why_no_update"]
        assert after["window"][-1] == simulated["recorded"][-1]["price"]

        assert node.send(signal.SIGINT) == conventional_exit(signal.SIGINT)
        assert node.left_behind() == {}
    finally:
        node.stop()


@pytest.fixture(scope="module")
def pool_session(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A node of this module's own (through the library) with a fee pool deployed by the CLI."""
    root = tmp_path_factory.mktemp("pool")
    with AnvilNode(root / "anvil.log") as node:
        session = Session(fee_workdir(built, root / "work"), node.rpc_url, DEV_PRIVATE_KEY)
        session.json("deploy", "fee")
        yield session


def test_only_the_owner_records_prices_or_pauses(pool_session: Session) -> None:
    """The pool's owner answers for its prices: anyone else is refused by name, nothing sent."""
    w3 = Web3(Web3.HTTPProvider(pool_session.rpc_url))
    block = w3.eth.block_number
    refused = pool_session.run("pool", "record-price", "100", key=SECOND_KEY)
    assert_clean_error(refused, "only the pool's owner", "--private-key or --account")
    assert_clean_error(pool_session.run("pool", "pause", key=SECOND_KEY), "only the pool's owner")
    keyless = pool_session.run("pool", "record-price", "100", key="")
    assert_clean_error(keyless, "no signing key")
    assert w3.eth.block_number == block


def test_bad_prices_are_refused_before_anything_is_sent(pool_session: Session) -> None:
    w3 = Web3(Web3.HTTPProvider(pool_session.rpc_url))
    block = w3.eth.block_number
    for bad in ("0", str(PRICE_LIMIT)):
        assert_clean_error(pool_session.run("pool", "record-price", "100", bad), "outside the pool's range")
    assert pool_session.run("pool", "record-price", "1.5").code == 2  # not a whole number: typer says so
    sideways = pool_session.run("pool", "simulate", "sideways")
    assert sideways.code == 2 and "'sideways' is not one of" in sideways.stderr, sideways.stderr
    assert_clean_error(pool_session.run("pool", "simulate", "calm", "--count", "0"), "at least one price")
    assert w3.eth.block_number == block


def test_pause_and_unpause(pool_session: Session) -> None:
    """The owner's switch; a no-op is refused by name; prices are still recorded while paused."""
    assert pool_session.json("pool", "pause")["paused"] is True
    assert_clean_error(pool_session.run("pool", "pause"), "already paused")
    status = pool_session.json("pool", "status")
    assert status["paused"] is True
    assert pool_session.json("pool", "record-price", "100")["observations"] == status["observations"] + 1
    assert pool_session.json("pool", "unpause")["paused"] is False
    assert_clean_error(pool_session.run("pool", "unpause"), "already running")


def test_pool_by_address_from_another_workdir(pool_session: Session, tmp_path: Path) -> None:
    """--address works from a workdir that deployed nothing (the ABI is compiled there)."""
    status = pool_session.json("pool", "status")
    address, verifier = status["address"], status["verifier"]
    elsewhere = Session(tmp_path, pool_session.rpc_url, pool_session.key)
    assert_clean_error(elsewhere.run("pool", "status"), "no AdaptiveFeePool recorded", "prover deploy fee")
    assert elsewhere.json("pool", "status", "--address", address)["address"] == address
    assert_clean_error(elsewhere.run("pool", "status", "--address", "0x" + "11" * 20), "no contract at")
    assert_clean_error(elsewhere.run("pool", "status", "--address", verifier), "is not an AdaptiveFeePool")


def test_pool_needs_the_chain_it_lives_on(tmp_path: Path) -> None:
    result = run_cli("pool", "status", "--workdir", tmp_path, env={"PROVER_RPC_URL": ""})
    assert_clean_error(result, "works on the chain the pool lives on", "prover node")


def test_simulated_stretch_continues_from_the_latest_price() -> None:
    """The same seed gives the same prices, rescaled to continue from where the pool is."""
    first = simulated_stretch("calm", 5, seed=7)
    assert first == simulated_stretch("calm", 5, seed=7) and len(first) == 5
    assert simulated_stretch("calm", 5, seed=7, start=2 * START_PRICE) == [2 * price for price in first]
    with pytest.raises(ProverError):
        check_prices([])
    with pytest.raises(ProverError):
        check_prices([True])
