"""Pytest plugin: a market on the session's anvil with the batch-4 fee circuit offered,
funded requesters, and helpers to request, serve and check the books (market_env).
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
from prover.keeper.assemble import keeper_for
from prover.keeper.metrics import KeeperMetrics
from prover.keeper.settings import ServeConfig
from prover.market.contract import deploy_market, token_contract
from prover.market.operations import request_inference, set_offer
from prover.market.shape import request_inputs, shape_of
from prover.market.token import deploy_test_token, mint
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.ray_backend import RaySettings
from prover.registry.contract import open_registry
from prover.registry.versions import register

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
        return self.chain.signed_by(self.keys[index])


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


def make_request(env: Market, index: int, values: list[float], ttl_s: int = 600) -> int:
    requester = env.as_account(index)
    inputs = request_inputs(shape_of(env.circuit), values)
    erc20 = token_contract(requester, env.workdir, env.token.address)
    made = request_inference(requester, env.market, erc20, env.model_id, inputs, prover_fee=PROVER_FEE, ttl_s=ttl_s)
    return made.request_id


def assert_balanced(env: Market) -> None:
    owed = int(call(env.chain, env.market, "liabilities", env.token.address))
    held = int(call(env.chain, env.token, "balanceOf", env.market.address))
    assert owed == held


def serve_once(
    env: Market, outbox: Path, metrics: KeeperMetrics | None = None, ray: RaySettings | None = None
) -> KeeperMetrics:
    """One `prover serve --once` pass of the owner's keeper, recording in `outbox` (a test's
    own: the module's chain is reverted between tests, and request ids come round again);
    proving on Ray with `ray`."""
    metrics = metrics or KeeperMetrics()
    config = ServeConfig(once=True, max_wait_s=0)
    with keeper_for(
        env.chain, env.workdir, env.market, [CIRCUIT], config=config, metrics=metrics, outbox=outbox, ray=ray
    ) as keeper:
        keeper.run()
    return metrics
