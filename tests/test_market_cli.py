"""The market's sides through the real CLI, each command a `prover` subprocess against one
anvil: the owner registers a batch circuit, deploys the market and a test token, offers
the model; a requester requests twice; `prover serve --once` settles both with one proof;
`result`, `market status` and `withdraw` read and pay out; mistakes are one-line errors.
And `prover demo market` tells its story from a workdir.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import ChainCli, assert_clean_error, run_cli
from contract_env import SECOND_KEY
from faults import PROVER

from prover.evm.client import Chain
from prover.evm.node import DEV_PRIVATE_KEY, advance_time

pytestmark = [pytest.mark.chain, pytest.mark.slow]

CIRCUIT = "fee_b4"


def test_owner_requester_and_keeper_through_the_cli(module_chain: Chain, batch_built: Path, tmp_path: Path) -> None:
    assert module_chain.node is not None
    work = tmp_path / "work"
    shutil.copytree(batch_built / "circuits" / CIRCUIT, work / "circuits" / CIRCUIT)
    cli = ChainCli(work, module_chain.node.rpc_url)

    assert_clean_error(cli.run("request", CIRCUIT, "--input", work / "none.json"), "no inference market recorded")
    cli.ok("register", CIRCUIT)
    market = cli.json("market", "deploy")["market"]
    cli.ok("token", "deploy")
    cli.ok("token", "mint", "--amount", "50", "--to", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
    cli.ok("token", "mint", "--amount", "50")
    assert_clean_error(cli.run("market", "offer", CIRCUIT, "--price", "0.0000001"), "whole number")
    cli.ok("market", "offer", CIRCUIT, "--price", "0.25", "--lock-stake", "0.01")
    assert_clean_error(cli.run("market", "offer", CIRCUIT, "--price", "1", key=SECOND_KEY), "NotModelOwner")

    assert run_cli("example", "fee", "--out", work / "input.json", "--workdir", work).code == 0
    first = cli.json("request", CIRCUIT, "--input", work / "input.json", "--prover-fee", "0.05", key=SECOND_KEY)
    second = cli.json("request", CIRCUIT, "--input", work / "input.json", "--prover-fee", "0.05", key=SECOND_KEY)
    assert second["request_id"] == first["request_id"] + 1
    status = cli.json("market", "status", key=None)
    assert status["by_status"] == {"open": 2} and status["address"] == market
    assert all(book["balanced"] for book in status["tokens"])

    served = cli.ok("serve", "--once")
    assert "fulfilled 2 requests" in served.stderr

    results = [cli.json("result", str(r["request_id"]), key=None) for r in (first, second)]
    assert [r["status"] for r in results] == ["fulfilled", "fulfilled"]
    assert results[0]["tx_hash"] == results[1]["tx_hash"]  # one proof, one fulfilment
    assert results[0]["outputs"] == results[1]["outputs"] and 0 < results[0]["outputs"][0] < 5  # % per step
    assert cli.json("market", "status", key=None)["by_status"] == {"fulfilled": 2}
    withdrawn = cli.ok("withdraw")
    assert "620,000 units" in withdrawn.stdout  # 2 x (0.25 + 0.05) + 2 stakes of 0.01 back, in 6 decimals
    assert_clean_error(cli.run("withdraw"), "has no credit")
    assert_clean_error(cli.run("result", "99", key=None), "has no request 99")


def test_the_market_demo_tells_its_story(batch_built: Path, tmp_path: Path) -> None:
    work = tmp_path / "demo"
    for name in ("fee", "digits_b4"):
        shutil.copytree(batch_built / "circuits" / name, work / "circuits" / name)
    result = run_cli("demo", "market", "--workdir", work, "--json", timeout=1200)
    assert result.code == 0, result.stderr[-3000:]
    story = json.loads(result.stdout)
    outputs = [row["output"] for row in story["requests"]]
    assert [o.split()[0] for o in outputs] == ["digit", "digit", "digit", "vol", "refunded"]
    assert story["requests"][0]["settled"] == "3 per proof"
    assert story["ltv_after_bps"] != story["ltv_before_bps"]
    assert story["refunded"] > 0 and story["revenue"] > 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_a_signal(
    module_chain: Chain, batch_built: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    """A running keeper stops after its current step on SIGTERM or SIGINT, exits 0, and
    leaves its outbox free for the next keeper."""
    assert module_chain.node is not None
    work = tmp_path / "work"
    shutil.copytree(batch_built / "circuits" / CIRCUIT, work / "circuits" / CIRCUIT)
    cli = ChainCli(work, module_chain.node.rpc_url)
    cli.ok("register", CIRCUIT)
    cli.ok("market", "deploy")
    cli.ok("token", "deploy")
    cli.ok("market", "offer", CIRCUIT, "--price", "0.25")
    command = [str(PROVER), "serve", "--rpc-url", cli.rpc_url, "--private-key", DEV_PRIVATE_KEY, "--workdir", str(work)]
    keeper = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        assert keeper.stderr is not None
        seen = ""
        while "serving" not in seen:
            line = keeper.stderr.readline()
            assert line, f"the keeper ended before serving: {seen}"
            seen += line
        keeper.send_signal(stop)
        _out, rest = keeper.communicate(timeout=60)
    finally:
        if keeper.poll() is None:
            keeper.kill()
    assert keeper.returncode == 0, seen + rest
    assert "stopping after the current step" in rest and "Traceback" not in rest
    assert cli.ok("serve", "--once").code == 0  # the outbox lock went with the first keeper


def test_retiring_a_version_makes_its_requests_refundable(
    module_chain: Chain, batch_built: Path, tmp_path: Path
) -> None:
    assert module_chain.node is not None
    work = tmp_path / "work"
    shutil.copytree(batch_built / "circuits" / CIRCUIT, work / "circuits" / CIRCUIT)
    cli = ChainCli(work, module_chain.node.rpc_url)
    cli.ok("register", CIRCUIT)
    cli.ok("market", "deploy")
    cli.ok("token", "deploy")
    cli.ok("token", "mint", "--amount", "10")
    cli.ok("market", "offer", CIRCUIT, "--price", "1")
    assert run_cli("example", "fee", "--out", work / "input.json", "--workdir", work).code == 0
    request_id = str(cli.json("request", CIRCUIT, "--input", work / "input.json")["request_id"])
    assert_clean_error(cli.run("refund", request_id), "NotRefundable")
    assert_clean_error(cli.run("market", "retire", "--model", "1", "--version", "1", key=SECOND_KEY), "NotModelOwner")
    cli.ok("market", "retire", "--model", "1", "--version", "1")
    assert_clean_error(cli.run("request", CIRCUIT, "--input", work / "input.json"), "NoOpenOffer")
    cli.ok("refund", request_id)
    refunded = cli.run("result", request_id, "--json", key=None)
    assert refunded.code == 1 and json.loads(refunded.stdout)["status"] == "refunded"
    assert "1 (1,000,000 units" in cli.ok("withdraw").stdout
    cli.ok("market", "offer", CIRCUIT, "--price", "1")  # served again: new requests are taken
    late = str(cli.json("request", CIRCUIT, "--input", work / "input.json", "--deadline", "30")["request_id"])
    assert cli.json("result", late, "--no-wait", key=None)["status"] == "open"
    advance_time(module_chain.w3, 60)
    expired = cli.run("result", late, key=None)  # returns at once: past its deadline, only a refund is left
    assert expired.code == 1 and "expired" in expired.stdout and f"prover refund {late}" in expired.stdout
    cli.ok("market", "close", "--model", "1")
    assert_clean_error(cli.run("request", CIRCUIT, "--input", work / "input.json"), "no open offer")
