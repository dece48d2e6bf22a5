"""Reference models: seeded and reproducible, exactly encodable inputs, useful decisions.

No ezkl here: these run in seconds and guard the properties the circuit and the
consumer contract rely on (deterministic weights, integer-exact features).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import REFERENCE_MODELS, get_model, model_names
from models.base import ReferenceModel
from models.digits import DigitsModel
from models.fee import (
    FEATURE_LIMIT_PCT,
    FEE_THRESHOLDS,
    FEE_TIERS_BPS,
    N_FEATURES,
    WINDOW,
    FeeModel,
    fee_bucket,
    fixed_point_features,
    simulate_prices,
)


def _predict(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def fee() -> FeeModel:
    return FeeModel()


@pytest.fixture(scope="module")
def fee_net(fee: FeeModel) -> torch.nn.Module:
    return fee.train()


@pytest.fixture(scope="module")
def digits() -> DigitsModel:
    return DigitsModel()


# --- fee: contract-facing features -------------------------------------------------


def test_fee_features_match_hand_computed_integers() -> None:
    # latest = 3000, scale 8: feature = trunc((p - 3000) * 100 * 256 / 3000)
    prices = [3001, 2999, 3000, 3030, 2970, 1, 6000, 2989, 3000]
    # 25600/3000 = 8.53 -> 8;  -8.53 -> -8 (toward zero, not floor's -9);
    # -76774400/3000 = -25591.47 -> -25591;  -281600/3000 = -93.87 -> -93
    assert fixed_point_features(prices, 8) == [8, -8, 0, 256, -256, -25591, 25600, -93]
    assert fixed_point_features(prices, 0) == [0, 0, 0, 1, -1, -99, 100, 0]


@pytest.mark.parametrize(
    "prices",
    [
        [3000] * (WINDOW - 1),
        [3000] * (WINDOW + 1),
        [3000] * (WINDOW - 1) + [0],
        [-5] + [3000] * (WINDOW - 1),
        [3000.0] * WINDOW,
    ],
)
def test_fee_features_reject_bad_windows(prices: list) -> None:
    with pytest.raises(ValueError):
        fixed_point_features(prices, 8)


@pytest.mark.parametrize("scale", [0, 8, 13])
def test_fee_encode_is_exact_at_any_scale(fee: FeeModel, scale: int) -> None:
    window = simulate_prices(50, seed=7, regime="volatile")[-WINDOW:]
    x = fee.encode(window, scale)
    assert x.shape == (1, N_FEATURES) and x.dtype == np.float32
    fixed = x.astype(np.float64) * 2**scale
    assert np.array_equal(fixed, np.round(fixed))
    assert fixed[0].astype(np.int64).tolist() == fixed_point_features(window, scale)


def test_fee_sets_are_exact_and_bounded(fee: FeeModel) -> None:
    """Exact at the input scale, inside the input domain; the calibration spans the whole
    domain (its two corners), the held-out windows are ordinary markets."""
    scale = fee.circuit.input_scale
    for x in (fee.calibration_set(), fee.heldout_set()):
        assert x.dtype == np.float32 and x.shape[1:] == fee.input_shape
        fixed = x.astype(np.float64) * 2**scale
        assert np.array_equal(fixed, np.round(fixed))
        assert np.abs(x).max() <= FEATURE_LIMIT_PCT
    assert fee.calibration_set().min() == -FEATURE_LIMIT_PCT and fee.calibration_set().max() == FEATURE_LIMIT_PCT
    assert np.abs(fee.heldout_set()).max() < 40
    assert len(fee.calibration_set()) == 64
    assert len(fee.heldout_set()) >= 350


def test_fee_datasets_are_cached_and_identical(fee: FeeModel) -> None:
    a, b = fee.heldout_set(), fee.heldout_set()
    assert a is not b and np.array_equal(a, b)
    assert np.array_equal(FeeModel().heldout_set(), a)


def test_simulator_is_seeded_and_regimes_differ() -> None:
    assert simulate_prices(200, seed=3) == simulate_prices(200, seed=3)
    calm = np.diff(np.log(simulate_prices(2000, seed=1, regime="calm")))
    volatile = np.diff(np.log(simulate_prices(2000, seed=1, regime="volatile")))
    assert all(isinstance(p, int) and p > 0 for p in simulate_prices(100, seed=2))
    assert volatile.std() > 3 * calm.std()
    with pytest.raises(ValueError):
        simulate_prices(10, seed=0, regime="sideways")


# --- fee: training and decisions ---------------------------------------------------


def test_fee_training_is_deterministic(fee: FeeModel, fee_net: torch.nn.Module) -> None:
    again = FeeModel().train()
    x = fee.heldout_set()
    assert np.array_equal(_predict(fee_net, x), _predict(again, x))


def test_fee_decisions_populate_several_buckets(fee: FeeModel, fee_net: torch.nn.Module) -> None:
    buckets = fee.decisions(_predict(fee_net, fee.heldout_set()))
    assert buckets.dtype.kind == "i"
    assert buckets.min() >= 0 and buckets.max() < len(FEE_TIERS_BPS)
    assert len(np.unique(buckets)) >= 2


def test_fee_buckets_follow_thresholds() -> None:
    assert len(FEE_TIERS_BPS) == len(FEE_THRESHOLDS) + 1
    t0, t1 = FEE_THRESHOLDS[0], FEE_THRESHOLDS[-1]
    got = fee_bucket(np.array([-1.0, 0.0, t0, t1, 100.0]))
    assert got.tolist() == [0, 0, 1, len(FEE_THRESHOLDS), len(FEE_THRESHOLDS)]


# --- digits ------------------------------------------------------------------------


def test_digits_heldout_accuracy(digits: DigitsModel) -> None:
    net = digits.train()
    predicted = digits.decisions(_predict(net, digits.heldout_set()))
    assert np.mean(predicted == digits.heldout_labels()) >= 0.9


def test_digits_sets_shapes(digits: DigitsModel) -> None:
    assert digits.calibration_set().shape == (32, 1, 8, 8)
    held = digits.heldout_set()
    assert held.shape[1:] == (1, 8, 8) and held.dtype == np.float32 and len(held) >= 300


@pytest.mark.parametrize("scale", [2, 7])
def test_digits_encode_on_grid(digits: DigitsModel, scale: int) -> None:
    raw = np.arange(64) % 17
    x = digits.encode(raw, scale)
    assert x.shape == (1, 1, 8, 8) and x.dtype == np.float32
    fixed = x.astype(np.float64) * 2**scale
    assert np.array_equal(fixed, np.round(fixed))
    assert np.array_equal(digits.encode(raw.reshape(8, 8), scale), x)
    if scale >= 4:
        assert np.array_equal(x.reshape(-1), (raw / 16).astype(np.float32))


@pytest.mark.parametrize("raw", [np.zeros(63), np.zeros((4, 16)), np.full(64, 17), np.full(64, -1), np.full(64, 0.5)])
def test_digits_encode_rejects_bad_input(digits: DigitsModel, raw: np.ndarray) -> None:
    with pytest.raises(ValueError):
        digits.encode(raw, 7)


# --- registry ----------------------------------------------------------------------


def test_registry_lists_and_returns_models() -> None:
    assert model_names() == sorted(REFERENCE_MODELS) and {"fee", "digits"} <= set(model_names())
    model = get_model("fee")
    assert isinstance(model, ReferenceModel) and model.name == "fee"
    assert get_model("fee") is model


def test_get_model_unknown_name_raises_key_error() -> None:
    with pytest.raises(KeyError, match="fee"):
        get_model("no-such-model")
