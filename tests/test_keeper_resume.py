"""A keeper killed anywhere resumes without fulfilling twice or losing a request: killed
(SIGKILL) after its lock landed, after its proof was written, and between broadcasting the
fulfilment and reading its receipt; a second keeper on the same outbox finishes the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from faults import TAG, tagged, wait_until
from market_env import CIRCUIT, Market, assert_balanced, make_request, serve_once

from prover.keeper.outbox import Outbox
from prover.keeper.records import FULFIL, LOCK, RequestState, TxState
from prover.market.contract import RequestStatus, read_request

pytestmark = [pytest.mark.chain, pytest.mark.slow]

CHILD = Path(__file__).with_name("keeper_child.py")


def _kill_keeper_at(env: Market, outbox: Path, point: str) -> subprocess.CompletedProcess[str]:
    assert env.chain.node is not None
    command = [
        sys.executable, str(CHILD), env.chain.node.rpc_url, str(env.workdir), env.market.address, CIRCUIT,
        str(outbox), point,
    ]  # fmt: skip
    tag = uuid.uuid4().hex
    environment = {**os.environ, TAG: tag}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=environment)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    # its proving worker dies with it (parent-death signal) and takes its staged keys along
    assert wait_until(lambda: not tagged(tag), timeout=10), tagged(tag)
    return done


def _fulfilments(env: Market, request_id: int) -> int:
    logs = env.market.events.Fulfilled().get_logs(from_block=0, argument_filters={"requestId": request_id})
    return len(logs)


@pytest.mark.parametrize("point", ["locked", "proved", "fulfil-sent"])
def test_a_killed_keeper_resumes_and_settles_each_request_once(market_env: Market, tmp_path: Path, point: str) -> None:
    env = market_env
    ids = [make_request(env, index, [0.1 * (index + 1)] * 8) for index in range(2)]
    outbox = tmp_path / "outbox.sqlite"
    _kill_keeper_at(env, outbox, point)
    views = [read_request(env.chain, env.market, rid) for rid in ids]
    assert all(view.locker.lower() == env.chain.address.lower() for view in views)  # the dead keeper's lock
    if point == "fulfil-sent":  # automine: the broadcast fulfilment landed before the kill
        assert all(view.status is RequestStatus.FULFILLED for view in views)
    else:
        assert all(view.status is RequestStatus.OPEN for view in views)

    metrics = serve_once(env, outbox)  # the same outbox, as a restarted `prover serve` would find it

    assert [_fulfilments(env, rid) for rid in ids] == [1, 1]
    assert all(read_request(env.chain, env.market, rid).status is RequestStatus.FULFILLED for rid in ids)
    with Outbox.open(outbox) as box:
        assert {row.state for row in box.requests()} == {RequestState.FULFILLED}
        locks = [tx for tx in box.transactions() if tx.kind == LOCK]
        fulfils = [tx for tx in box.transactions() if tx.kind == FULFIL]
    assert [tx.state for tx in locks] == [TxState.MINED]  # locked once, never again
    assert [tx.state for tx in fulfils] == [TxState.MINED]  # one fulfilment sent, ever
    resumed = metrics.value("keeper_requests_total", {"event": "fulfilled"})
    assert resumed == 2
    assert_balanced(env)
