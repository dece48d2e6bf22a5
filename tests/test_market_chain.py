"""The inference market end to end on a real anvil: a model's owner offers it, requesters
pay, the keeper locks, proves a batch with a real proof, fulfils; owners and provers are
paid only then; a late request is refunded; a copied proof earns its copier nothing.

Everything runs through the library the CLI uses (prover.market, prover.keeper); the CLI
flow itself is test_market_cli.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3.contract import Contract

from prover.errors import TransactionReverted
from prover.evm.client import Chain, call
from prover.evm.node import advance_time
from prover.keeper.assemble import keeper_for
from prover.keeper.metrics import KeeperMetrics
from prover.keeper.serve import ServeConfig
from prover.market.contract import RequestStatus, deploy_market, read_request, read_result, token_contract
from prover.market.operations import (
    fulfil_requests,
    lock_requests,
    refund_request,
    request_inference,
    set_offer,
    withdraw_credit,
)
from prover.market.shape import prove_requests, request_inputs, shape_of, slot_outputs
from prover.market.token import deploy_test_token, mint
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import open_registry
from prover.registry.versions import register

pytestmark = [pytest.mark.chain, pytest.mark.slow]

PRICE = 2_000_000  # 2 tUSD
PROVER_FEE = 500_000
STAKE = 100_000
CIRCUIT = "fee_b4"


@dataclass
class Market:
    chain: Chain  # the owner's (dev account 0), also the keeper's here
    workdir: Path
    circuit: Circuit
    market: Contract
    token: Contract
    model_id: int
    version: int
    keys: list[str]  # requesters' keys (dev accounts 1..)

    def as_account(self, index: int) -> Chain:
        """The same node, signing with requester `index`."""
        from eth_account import Account

        return Chain(w3=self.chain.w3, account=Account.from_key(self.keys[index]), chain_id=self.chain.chain_id)


@pytest.fixture(scope="module")
def market_env(module_chain: Chain, batch_built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    workdir = tmp_path_factory.mktemp("market")
    shutil.copytree(batch_built / "circuits" / CIRCUIT, workdir / "circuits" / CIRCUIT)
    chain = module_chain
    circuit = open_circuit(CIRCUIT, workdir)
    registry = open_registry(chain, workdir, deploy_if_missing=True)
    registration = register(chain, registry, circuit)
    market = deploy_market(chain, workdir, registry.address)
    token = deploy_test_token(chain, workdir)
    set_offer(
        chain, market, registration.model_id, registration.version, shape_of(circuit),
        token=token.address, payee=chain.address, price=PRICE, lock_stake=STAKE, lock_window=120,
    )  # fmt: skip
    assert chain.node is not None
    keys = [account.private_key for account in chain.node.dev_accounts()[1:5]]
    env = Market(chain, workdir, circuit, market, token, registration.model_id, registration.version, keys)
    for index in range(len(keys)):
        mint(chain, token, env.as_account(index).address, 100 * 10**6)
    mint(chain, token, chain.address, 100 * 10**6)  # the keeper's stakes
    yield env


@contextmanager
def refused(name: str) -> Iterator[None]:
    """The block must revert with the market's custom error `name`."""
    with pytest.raises(TransactionReverted) as info:
        yield
    assert info.value.error_name == name, (info.value.error_name, info.value.error_args)


def _request(env: Market, index: int, values: list[float], ttl_s: int = 600) -> int:
    requester = env.as_account(index)
    inputs = request_inputs(shape_of(env.circuit), values)
    erc20 = token_contract(requester, env.workdir, env.token.address)
    made = request_inference(requester, env.market, erc20, env.model_id, inputs, prover_fee=PROVER_FEE, ttl_s=ttl_s)
    return made.request_id


def _balanced(env: Market) -> None:
    owed = int(call(env.chain, env.market, "liabilities", env.token.address))
    held = int(call(env.chain, env.token, "balanceOf", env.market.address))
    assert owed == held


def _serve_once(env: Market, metrics: KeeperMetrics | None = None) -> KeeperMetrics:
    metrics = metrics or KeeperMetrics()
    config = ServeConfig(once=True, max_wait_s=0)
    with keeper_for(env.chain, env.workdir, env.market, [CIRCUIT], config=config, metrics=metrics) as keeper:
        keeper.run()
    return metrics


def test_three_requests_settle_with_one_proof_and_pay_owner_and_prover(market_env: Market) -> None:
    env = market_env
    values = [[0.2 * k - 0.5 for k in range(8)], [-0.1 * k for k in range(8)], [0.05 * k for k in range(8)]]
    ids = [_request(env, index, vals) for index, vals in enumerate(values)]
    _balanced(env)
    metrics = _serve_once(env)
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
    _balanced(env)


def test_a_copied_proof_earns_the_copier_nothing(market_env: Market, tmp_path: Path) -> None:
    env = market_env
    request_id = _request(env, 0, [0.1] * 8)
    erc20 = token_contract(env.chain, env.workdir, env.token.address)
    lock_requests(env.chain, env.market, erc20, [request_id], STAKE)
    shape = shape_of(env.circuit)
    proof = prove_requests(env.circuit, shape, [request_inputs(shape, [0.1] * 8)], tmp_path / "p.json").proof
    copier = env.as_account(3)
    with refused("NotLocker"):
        fulfil_requests(copier, env.market, [request_id], proof)
    fulfil_requests(env.chain, env.market, [request_id], proof)
    assert read_request(env.chain, env.market, request_id).status is RequestStatus.FULFILLED


def test_a_late_request_is_refunded_once_and_never_fulfilled(market_env: Market) -> None:
    env = market_env
    request_id = _request(env, 1, [0.3] * 8, ttl_s=60)
    requester = env.as_account(1)
    with refused("NotRefundable"):
        refund_request(requester, env.market, request_id)
    advance_time(env.chain.w3, 120)
    refund_request(requester, env.market, request_id)
    with refused("RequestNotOpen"):
        refund_request(requester, env.market, request_id)
    metrics = _serve_once(env)  # the keeper sees it and leaves it
    assert metrics.value("keeper_requests_total", {"event": "fulfilled"}) == 0
    amount, _sent = withdraw_credit(requester, env.market, env.token.address)
    assert amount == PRICE + PROVER_FEE
    _balanced(env)


def test_only_the_model_owner_offers_it(market_env: Market) -> None:
    env = market_env
    stranger = env.as_account(2)
    with refused("NotModelOwner"):
        set_offer(
            stranger, env.market, env.model_id, env.version, shape_of(env.circuit),
            token=env.token.address, payee=stranger.address, price=1, lock_stake=0, lock_window=60,
        )  # fmt: skip
