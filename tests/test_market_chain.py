"""The inference market end to end on a real anvil: a model's owner offers it, requesters
pay, the keeper locks, proves a batch with a real proof, fulfils; owners and provers are
paid only then; a late request is refunded; a copied proof earns its copier nothing.

Everything runs through the library the CLI uses (prover.market, prover.keeper); the CLI
flow itself is test_market_cli.py; the set-up is market_env's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from market_env import PRICE, PROVER_FEE, STAKE, Market, assert_balanced, make_request, refused, serve_once

from prover.evm.client import call
from prover.evm.node import advance_time
from prover.market.contract import RequestStatus, read_request, read_result, token_contract
from prover.market.operations import (
    fulfil_requests,
    lock_requests,
    refund_request,
    request_inference,
    set_offer,
    withdraw_credit,
)
from prover.market.shape import prove_requests, request_inputs, shape_of, slot_outputs

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_three_requests_settle_with_one_proof_and_pay_owner_and_prover(market_env: Market, tmp_path: Path) -> None:
    env = market_env
    values = [[0.2 * k - 0.5 for k in range(8)], [-0.1 * k for k in range(8)], [0.05 * k for k in range(8)]]
    ids = [make_request(env, index, vals) for index, vals in enumerate(values)]
    assert_balanced(env)
    metrics = serve_once(env, tmp_path / "outbox.sqlite")
    assert metrics.value("keeper_requests_total", {"event": "fulfilled"}) == 3
    assert metrics.value("keeper_inferences_settled_total") == 3
    fulfils = env.market.events.Fulfilled().get_logs(from_block=0)
    assert sorted(int(log["args"]["requestId"]) for log in fulfils) == ids
    assert len({log["transactionHash"] for log in fulfils}) == 1  # one proof settled all three
    shape = shape_of(env.circuit)
    for request_id, vals in zip(ids, values, strict=True):
        status, outputs = read_result(env.chain, env.market, request_id)
        assert status is RequestStatus.FULFILLED
        expected = prove_requests(env.circuit, shape, [request_inputs(shape, vals)], env.workdir / "check.json")
        assert outputs == slot_outputs(shape, expected.proof.instances, 0)
    credit = int(call(env.chain, env.market, "creditOf", env.chain.address, env.token.address))
    # dev account 0 is both the payee and the keeper: 3 prices + 3 prover fees + its 3 stakes back
    assert credit == 3 * (PRICE + PROVER_FEE + STAKE)
    amount, _sent = withdraw_credit(env.chain, env.market, env.token.address)
    assert amount == credit
    assert_balanced(env)


def test_a_copied_proof_earns_the_copier_nothing(market_env: Market, tmp_path: Path) -> None:
    env = market_env
    request_id = make_request(env, 0, [0.1] * 8)
    erc20 = token_contract(env.chain, env.workdir, env.token.address)
    lock_requests(env.chain, env.market, erc20, [request_id], STAKE)
    shape = shape_of(env.circuit)
    proof = prove_requests(env.circuit, shape, [request_inputs(shape, [0.1] * 8)], tmp_path / "p.json").proof
    copier = env.as_account(3)
    with refused("NotLocker"):
        fulfil_requests(copier, env.market, [request_id], proof)
    fulfil_requests(env.chain, env.market, [request_id], proof)
    assert read_request(env.chain, env.market, request_id).status is RequestStatus.FULFILLED


def test_a_late_request_is_refunded_once_and_never_fulfilled(market_env: Market, tmp_path: Path) -> None:
    env = market_env
    request_id = make_request(env, 1, [0.3] * 8, ttl_s=60)
    requester = env.as_account(1)
    with refused("NotRefundable"):
        refund_request(requester, env.market, request_id)
    advance_time(env.chain.w3, 120)
    refund_request(requester, env.market, request_id)
    with refused("RequestNotOpen"):
        refund_request(requester, env.market, request_id)
    metrics = serve_once(env, tmp_path / "outbox.sqlite")  # the keeper sees it and leaves it
    assert metrics.value("keeper_requests_total", {"event": "fulfilled"}) == 0
    amount, _sent = withdraw_credit(requester, env.market, env.token.address)
    assert amount == PRICE + PROVER_FEE
    assert_balanced(env)


def test_only_the_model_owner_offers_it(market_env: Market) -> None:
    env = market_env
    stranger = env.as_account(2)
    with refused("NotModelOwner"):
        set_offer(
            stranger, env.market, env.model_id, env.version, shape_of(env.circuit),
            token=env.token.address, payee=stranger.address, price=1, lock_stake=0, lock_window=60,
        )  # fmt: skip


def test_a_requester_short_of_tokens_is_told_so_by_name(market_env: Market) -> None:
    env = market_env
    assert env.chain.node is not None
    broke = env.chain.signed_by(env.chain.node.dev_accounts()[7].private_key)  # never minted any tUSD
    erc20 = token_contract(broke, env.workdir, env.token.address)
    with refused("ERC20InsufficientBalance"):
        request_inference(broke, env.market, erc20, env.model_id, [0] * 8, prover_fee=PROVER_FEE)
