"""The fee model's input domain: the pool stays live through crashes and spikes.

Features saturate to [-100, 100] percent on both sides of the chain (`models.fee`,
`AdaptiveFeePool.featuresOf`) and the circuit is calibrated on that whole box, so every
window the pool can hold has inputs a proof exists for. Before, a 30% move in one step
left the calibrated range and no update could be proved exactly when the fee should rise.
Property tests check the encoding (Python = Solidity, over any prices and scales) and the
signed field codec over the whole field.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from contract_env import PARAMS, fee_pool, pool_args
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.fee import FEATURE_LIMIT_PCT, FEE_TIERS_BPS, START_PRICE, WINDOW, FeeModel, fixed_point_features
from prover.consumers.base import NO_REGISTRY, submit
from prover.consumers.fee import FeeConsumer
from prover.datasets import check_range
from prover.errors import TransactionReverted
from prover.evm.client import Chain, call, contract_at, deploy, transact
from prover.evm.node import advance_time
from prover.evm.solc import compile_project_contracts
from prover.evm.verifier import ensure_verifier
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.field import FIELD_MODULUS, from_signed, to_signed

pytestmark = pytest.mark.chain

SCALES = (0, 1, 8, 13, 64)
MAX_PRICE = 2**128 - 1
MAX_ABS = 2**128
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class DomainEnv:
    chain: Chain
    work: Path
    circuit: Circuit
    pools: dict[int, Any]  # empty pools by input scale, for `featuresOf`
    harness: Any


@pytest.fixture(scope="module")
def domain_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> DomainEnv:
    work = tmp_path_factory.mktemp("domain") / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    circuit = open_circuit("fee", work)
    compiled = compile_project_contracts(work / "out", include_tests=True)
    pool_artifact, harness_artifact = compiled["AdaptiveFeePool"].artifact(), compiled["ConsumerHarness"].artifact()
    mock = deploy(module_chain, compiled["MockVerifier"].artifact(), True).address
    pools = {
        scale: contract_at(
            module_chain,
            deploy(module_chain, pool_artifact, *pool_args(mock, circuit, input_scale=scale)).address,
            pool_artifact["abi"],
        )
        for scale in SCALES
    }
    harness = contract_at(
        module_chain, deploy(module_chain, harness_artifact, mock, NO_REGISTRY, 0).address, harness_artifact["abi"]
    )
    return DomainEnv(module_chain, work, circuit, pools, harness)


def _moves(start: int, steps: list[float]) -> list[int]:
    """Prices from `start` after each relative move (0.5 = +50%, -0.5 = -50%), never below 1."""
    prices = [start]
    for move in steps:
        prices.append(max(1, round(prices[-1] * (1 + move))))
    return prices


any_price = st.integers(min_value=1, max_value=MAX_PRICE)
market_window = st.lists(st.floats(min_value=-0.99, max_value=10.0), min_size=WINDOW - 1, max_size=WINDOW - 1).map(
    lambda steps: _moves(START_PRICE, steps)
)


@PROPERTY
@given(window=st.one_of(st.lists(any_price, min_size=WINDOW, max_size=WINDOW), market_window))
def test_python_and_the_pool_encode_every_window_alike(domain_env: DomainEnv, window: list[int]) -> None:
    """`fixed_point_features` = `featuresOf`, bit for bit, at every scale, for any prices the
    pool accepts; every feature lies in the domain."""
    for scale, pool in domain_env.pools.items():
        python = fixed_point_features(window, scale)
        assert max(abs(f) for f in python) <= FEATURE_LIMIT_PCT << scale
        assert [int(v) for v in call(domain_env.chain, pool, "featuresOf", window)] == [from_signed(f) for f in python]


def test_the_pool_refuses_prices_it_could_not_have_recorded(domain_env: DomainEnv) -> None:
    pool = domain_env.pools[8]
    for bad in (0, 2**128):
        with pytest.raises(TransactionReverted) as info:
            call(domain_env.chain, pool, "featuresOf", [START_PRICE] * (WINDOW - 1) + [bad])
        assert info.value.error_name == "InvalidPrice"


@PROPERTY
@given(
    felt=st.one_of(
        st.integers(0, FIELD_MODULUS - 1),
        st.integers(0, MAX_ABS),
        st.integers(FIELD_MODULUS - MAX_ABS, FIELD_MODULUS - 1),
    )
)
def test_signed_decoding_agrees_with_python_over_the_whole_field(domain_env: DomainEnv, felt: int) -> None:
    """Small felts are positive, felts just below r negative, the band between reverts."""
    if felt < MAX_ABS or felt > FIELD_MODULUS - MAX_ABS:
        assert call(domain_env.chain, domain_env.harness, "decodeSigned", felt) == to_signed(felt)
    else:
        with pytest.raises(TransactionReverted) as info:
            call(domain_env.chain, domain_env.harness, "decodeSigned", felt)
        assert info.value.error_name == "OutputOutOfRange"


@PROPERTY
@given(value=st.integers(-(2**130), 2**130))
def test_signed_encoding_agrees_with_python_and_round_trips(domain_env: DomainEnv, value: int) -> None:
    if abs(value) < MAX_ABS:
        felt = call(domain_env.chain, domain_env.harness, "encodeSigned", value)
        assert felt == from_signed(value) and to_signed(felt) == value
    else:
        with pytest.raises(TransactionReverted) as info:
            call(domain_env.chain, domain_env.harness, "encodeSigned", value)
        assert info.value.error_name == "ValueOutOfRange"


def test_extreme_windows_are_inside_what_the_circuit_proves(domain_env: DomainEnv) -> None:
    """242 random windows of crashes and spikes (up to +-50% a step, and beyond): every one
    encodes inside the circuit's accepted input range, which covers the whole domain."""
    rng = random.Random(13)
    scale = domain_env.circuit.info.input_scales[0]
    (low, high) = domain_env.circuit.info.input_range[0]
    assert low <= -FEATURE_LIMIT_PCT and high >= FEATURE_LIMIT_PCT
    model = FeeModel()
    for _ in range(242):
        steps = [rng.choice([-0.5, 0.5, rng.uniform(-0.9, 3.0), rng.uniform(-0.05, 0.05)]) for _ in range(WINDOW - 1)]
        sample = [np.asarray(model.encode(_moves(START_PRICE, steps), scale), dtype=np.float64)]
        check_range(sample, domain_env.circuit.info.input_range, "window")


def test_the_pool_updates_in_every_window_of_a_crash_and_a_spike(domain_env: DomainEnv) -> None:
    """Calm, then -50% in one step, more crashes, +50% spikes and a slow recovery: every
    epoch gets a proven update, and the fee reaches the top tier while prices jump."""
    chain, circuit = domain_env.chain, domain_env.circuit
    consumer = FeeConsumer(PARAMS)
    verifier = ensure_verifier(chain, circuit).address
    pool = fee_pool(chain, circuit, verifier, PARAMS)
    moves = [0.001, -0.002, 0.001, 0.0, -0.001, 0.002, -0.001, 0.0]  # calm: the first full window
    moves += [-0.5, -0.5, 0.5, 0.5, -0.3, 0.5, -0.5, 0.01, 0.02, -0.01]  # crashes and spikes
    prices = _moves(START_PRICE, moves)
    fees = []
    for index, price in enumerate(prices):
        transact(chain, pool, "recordPrice", price)
        if index + 1 < WINDOW:
            continue
        advance_time(chain.w3, PARAMS.min_update_interval_s)
        done = submit(chain, consumer, circuit, pool, domain_env.work / f"epoch-{index + 1}.proof.json")
        assert done.details["epoch"] == index + 1
        fees.append(done.details["new_fee_bps"])
    assert len(fees) == len(prices) - WINDOW + 1  # every window got its update
    assert max(fees) == min(PARAMS.max_fee_bps, FEE_TIERS_BPS[-1])
    assert fees[0] < max(fees)
