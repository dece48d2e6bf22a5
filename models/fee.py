"""Volatility-driven fee model: recent pool prices in, short-horizon volatility out.

An AMM pool wants a higher swap fee when prices are jumpy (LPs bear more adverse
selection) and a low one when they are calm. The model reads the last ``WINDOW``
observed prices and predicts the mean per-step volatility, in percent, over the next
``HORIZON`` steps; `fee_bucket` maps that to one of ``FEE_TIERS_BPS``.

Contract-facing input formula (the consumer recomputes it from its own price history,
so it must be plain integer arithmetic):

    prices  p_0 .. p_8   (WINDOW = 9 unsigned ints, p_8 the latest, all > 0)
    for i in 0 .. 7:
        num_i       = (p_i - p_8) * FEATURE_MULTIPLIER * 2**scale     # FEATURE_MULTIPLIER = 100
        q_i         = sign(num_i) * (|num_i| / p_8)                   # integer division
        feature_i   = clamp(q_i, -L, L)       with L = FEATURE_LIMIT_PCT * 2**scale
    i.e. Solidity's signed ``int256(num_i) / int256(p_8)``, which truncates toward zero,
    then saturated to the model's input domain.

``feature_i`` is the i-th public input instance at ``scale`` (the circuit's
input_scale): the percent deviation of an older price from the latest one, in fixed
point. `encode` returns ``feature_i / 2**scale`` as float32, which is exact, so ezkl's
quantization gives back the very same integers.

The input domain is part of the encoding: every feature lies in [-100, 100] percent, on
both sides of the chain. A price can fall at most 100% below the latest one, and a rise
beyond +100% (the latest price halved or worse) says nothing more about volatility than
+100% does. The circuit is calibrated on that whole box, so any price window the pool can
hold (a 50% crash in one step, a run of spikes) has inputs the circuit proves, and the
fee can move exactly when it should (DESIGN.md rule 6: a consumer stays live over its
whole input domain).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import nn

from models.base import ReferenceModel, fit_minibatches
from prover.config import CircuitConfig

#: prices per observation window; the last one is the reference ("latest") price
WINDOW = 9
#: one feature per older price in the window
N_FEATURES = WINDOW - 1
#: features are percent deviations from the latest price
FEATURE_MULTIPLIER = 100
#: the model's input domain: every feature saturates to [-FEATURE_LIMIT_PCT, FEATURE_LIMIT_PCT]
FEATURE_LIMIT_PCT = 100
#: steps ahead over which the target volatility is averaged
HORIZON = 8
#: fixed-point scale the training features are computed at (the circuit's input_scale)
TRAIN_SCALE = 8
#: volatility thresholds in percent per step, ascending; bucket k is [T[k-1], T[k])
FEE_THRESHOLDS: tuple[float, ...] = (0.3, 0.7, 1.3)
#: swap fee per bucket, in basis points
FEE_TIERS_BPS: tuple[int, ...] = (5, 30, 60, 100)

#: 1e-8 units, so the first price is 2000.00000000
START_PRICE = 2000 * 10**8
#: per-regime mean of log volatility (per step, as a fraction): 0.15% calm, 1.2% volatile
_LOG_VOL_MEAN = {"calm": math.log(0.0015), "volatile": math.log(0.012)}
#: AR(1) persistence and innovation of log volatility
_LOG_VOL_PHI = 0.95
_LOG_VOL_ETA = 0.15
#: per-step probability of switching regime when regime=None
_SWITCH_PROB = 0.004
#: per-step volatility is kept within these bounds so features stay within about +-30
_VOL_MIN, _VOL_MAX = 0.0005, 0.03

#: path lengths and seed offsets: training, calibration and held-out never share a path
_TRAIN_PATHS, _TRAIN_STEPS = 4, 3000
_HELDOUT_STEPS, _HELDOUT_STRIDE = 4000, 10
_N_CALIBRATION = 64
_HELDOUT_SEED_OFFSET = 1000

_REGIMES = ("calm", "volatile")


def _simulate(n_steps: int, seed: int, regime: str | None) -> tuple[list[int], np.ndarray]:
    """Prices and the latent per-step volatility ``sigma[t]`` driving ``p[t] -> p[t+1]``.

    Log volatility mean-reverts (AR(1)) towards its regime's level; with regime=None the
    regime switches at random, so one path holds both calm and volatile stretches.
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if regime is not None and regime not in _REGIMES:
        raise ValueError(f"regime must be one of {_REGIMES} or None, got {regime!r}")
    rng = np.random.default_rng(seed)
    state = regime if regime is not None else _REGIMES[int(rng.integers(2))]
    log_vol = _LOG_VOL_MEAN[state]
    log_price = math.log(START_PRICE)
    prices = [START_PRICE]
    sigmas = np.empty(n_steps - 1, dtype=np.float64)
    for t in range(n_steps - 1):
        if regime is None and rng.random() < _SWITCH_PROB:
            state = "volatile" if state == "calm" else "calm"
        mean = _LOG_VOL_MEAN[state]
        log_vol = mean + _LOG_VOL_PHI * (log_vol - mean) + _LOG_VOL_ETA * rng.standard_normal()
        sigma = min(max(math.exp(log_vol), _VOL_MIN), _VOL_MAX)
        sigmas[t] = sigma
        log_price += sigma * rng.standard_normal()
        prices.append(max(1, round(math.exp(log_price))))
    return prices, sigmas


def simulate_prices(n_steps: int, seed: int, regime: str | None = None) -> list[int]:
    """A seeded price path in 1e-8 units; regime "calm", "volatile" or None (switching)."""
    return _simulate(n_steps, seed, regime)[0]


def fixed_point_features(prices: Sequence[int], scale: int) -> list[int]:
    """The contract's integer features for one window (see the module docstring).

    Division truncates toward zero, as Solidity's signed division does, so that a
    contract recomputing the inputs gets the same instances bit for bit.
    """
    if len(prices) != WINDOW:
        raise ValueError(f"expected exactly {WINDOW} prices, got {len(prices)}")
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    try:
        ints = [operator.index(p) for p in prices]
    except TypeError as exc:
        raise ValueError("prices must be integers") from exc
    if any(p <= 0 for p in ints):
        raise ValueError("prices must be > 0")
    latest = ints[-1]
    limit = FEATURE_LIMIT_PCT << scale
    features = []
    for p in ints[:-1]:
        num = (p - latest) * FEATURE_MULTIPLIER * (1 << scale)
        quotient = min(abs(num) // latest, limit)
        features.append(-quotient if num < 0 else quotient)
    return features


def fee_bucket(volatility: np.ndarray) -> np.ndarray:
    """Bucket index per volatility (percent): 0 below FEE_THRESHOLDS[0], and so on."""
    thresholds = np.asarray(FEE_THRESHOLDS)
    return np.searchsorted(thresholds, np.asarray(volatility), side="right").astype(np.int64)


def _windows(prices: list[int], sigmas: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer features and targets for every window with a full horizon after it.

    The target for a window ending at price t is the mean latent volatility of the
    next HORIZON returns, sigma[t .. t+HORIZON-1], in percent.
    """
    feats: list[list[int]] = []
    targets: list[float] = []
    for end in range(WINDOW - 1, len(prices) - HORIZON):
        feats.append(fixed_point_features(prices[end - WINDOW + 1 : end + 1], scale))
        targets.append(100.0 * float(sigmas[end : end + HORIZON].mean()))
    return np.asarray(feats, dtype=np.int64), np.asarray(targets, dtype=np.float32)


def _to_float(fixed: np.ndarray, scale: int) -> np.ndarray:
    """Integers at `scale` as exactly representable float32 values."""
    if np.abs(fixed).max(initial=0) >= 2**24:
        raise ValueError("feature too large to be exact in float32; lower the scale")
    return (fixed.astype(np.float64) / 2**scale).astype(np.float32)


class FeeModel(ReferenceModel):
    """MLP 8 -> 16 -> 1 predicting next-steps volatility, bucketed into a swap fee."""

    name = "fee"
    description = "AMM fee tier from recent prices (MLP 8-16-1, volatility regression)"
    input_shape = (N_FEATURES,)
    decision_name = "fee bucket"
    seed = 0
    circuit = CircuitConfig(
        input_scale=8,
        decomp_base=1024,
        decomp_legs=3,
        num_inner_cols=1,
        logrows=None,
        max_rel_error=None,  # judged by its decisions (see `decisions`), not by raw error
        coverage="input-box",  # every input `prove` accepts proves: contracts feed it live data
    )

    #: Adam settings: about 2.5 s on one CPU thread, near the best held-out error we found
    epochs: int = 300
    batch_size: int = 1024
    learning_rate: float = 1e-2

    @cached_property
    def _training_paths(self) -> list[tuple[list[int], np.ndarray]]:
        """A few seeded switching paths (prices, latent volatility) for training."""
        return [_simulate(_TRAIN_STEPS, self.seed + k, None) for k in range(_TRAIN_PATHS)]

    @cached_property
    def _training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Features (exact float32 at TRAIN_SCALE, as served) and volatility targets."""
        xs, ys = [], []
        for prices, sigmas in self._training_paths:
            fixed, target = _windows(prices, sigmas, TRAIN_SCALE)
            xs.append(_to_float(fixed, TRAIN_SCALE))
            ys.append(target)
        return np.concatenate(xs), np.concatenate(ys)

    @cached_property
    def _heldout_windows(self) -> tuple[list[list[int]], np.ndarray]:
        """Raw price windows and targets from a path no other set uses, strided for variety."""
        prices, sigmas = _simulate(_HELDOUT_STEPS, self.seed + _HELDOUT_SEED_OFFSET, None)
        windows, targets = [], []
        for end in range(WINDOW - 1, len(prices) - HORIZON, _HELDOUT_STRIDE):
            windows.append(prices[end - WINDOW + 1 : end + 1])
            targets.append(100.0 * float(sigmas[end : end + HORIZON].mean()))
        return windows, np.asarray(targets, dtype=np.float32)

    @cached_property
    def _calibration(self) -> np.ndarray:
        """Evenly spaced training windows, so calibration sees both regimes' ranges, and the
        two corners of the input domain, so the circuit proves every window a pool can hold."""
        per_path = -(-_N_CALIBRATION // _TRAIN_PATHS)
        rows = []
        for prices, _ in self._training_paths:
            ends = np.linspace(WINDOW - 1, len(prices) - 1, per_path).round().astype(int)
            rows += [prices[e - WINDOW + 1 : e + 1] for e in ends]
        scale = self.circuit.input_scale
        windows = [self.encode(w, scale)[0] for w in rows[: _N_CALIBRATION - 2]]
        corners = [np.full(N_FEATURES, sign * FEATURE_LIMIT_PCT, dtype=np.float32) for sign in (-1, 1)]
        return np.stack(windows + corners)

    @cached_property
    def _heldout(self) -> np.ndarray:
        windows, _ = self._heldout_windows
        return np.stack([self.encode(w, self.circuit.input_scale)[0] for w in windows])

    def heldout_targets(self) -> np.ndarray:
        """True mean next-HORIZON volatility (percent) for each held-out row."""
        return self._heldout_windows[1].copy()

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (n, N_FEATURES) and volatility targets (n, 1), both float32."""
        x_np, y_np = self._training_data
        return torch.from_numpy(x_np), torch.from_numpy(y_np).unsqueeze(1)

    def train(self) -> nn.Module:
        """Adam on MSE with seeded minibatches; about 2.5 s on one CPU thread."""
        x, y = self.training_tensors()
        return fit_minibatches(
            lambda: nn.Sequential(nn.Linear(N_FEATURES, 16), nn.ReLU(), nn.Linear(16, 1)),
            x,
            y,
            nn.functional.mse_loss,
            seed=self.seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
        )

    def calibration_set(self) -> np.ndarray:
        return self._calibration.copy()

    def heldout_set(self) -> np.ndarray:
        return self._heldout.copy()

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(outputs)
        return fee_bucket(outputs.reshape(len(outputs), -1)[:, 0])

    def explain(self, outputs: np.ndarray) -> list[tuple[str, str]]:
        volatility = float(np.ravel(outputs)[0])
        bucket = int(fee_bucket(np.asarray([volatility]))[0])
        edges = [f"{t:g}" for t in FEE_THRESHOLDS]
        band = (
            f"below {edges[0]} %"
            if bucket == 0
            else f"{edges[bucket - 1]} % and up"
            if bucket == len(edges)
            else f"{edges[bucket - 1]} to {edges[bucket]} %"
        )
        tier = FEE_TIERS_BPS[bucket]
        return [
            ("forecast volatility", f"{volatility:.3f} % per price step (mean over the next {HORIZON} steps)"),
            (
                "fee tier",
                f"{tier} bps = {tier / 100:g} % of each swap (tier {bucket + 1} of {len(FEE_TIERS_BPS)}: {band})",
            ),
        ]

    def encode(self, raw: Any, input_scale: int) -> np.ndarray:
        """WINDOW integer prices (oldest first) -> (1, N_FEATURES) exact float32 features."""
        fixed = np.asarray(fixed_point_features(list(raw), input_scale), dtype=np.int64)
        return _to_float(fixed, input_scale).reshape(1, N_FEATURES)
