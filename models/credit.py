"""Credit scoring on private inputs: a borrower's features in, probability of default out.

The features never go on chain. The circuit is built with input visibility ``hashed``,
so its one public input instance is the Poseidon hash of the input tensor; a trusted
attester signs that hash (the borrower's *commitment*) after seeing the documents, and a
lender's contract checks that the proof's hash is the attested one (see
prover/consumers/credit and contracts/src/examples/CreditLine.sol).

Why a salt, and why inside the tensor: six features take few plausible values (a whole
number of delinquencies, an income to the nearest thousand...), so the hash of the
features alone could be brute-forced from a list of candidates. ezkl exposes exactly one
Poseidon hash per input tensor, so the salt must live in that same tensor to be covered
by it: the input is ``N_FEATURES`` encoded features followed by ``SALT_WORDS`` random
words. The network slices the features off and never reads the salt, so the salt changes
the commitment and nothing else.

Each salt word is a value on the input scale's grid inside the features' own domain
``[-DOMAIN, DOMAIN)``: the circuit's input checks (the accepted range, the lookups sized
for it) hold for any salt, and every word carries ``input_scale + log2(2 * DOMAIN)``
bits, so 16 words carry at least 128 bits from input scale 5 up.

Feature encoding (off chain only, so it may use floats and logs): each raw feature is
mapped to a standard-ish score by a fixed affine map (income through its logarithm),
saturated to the domain, and rounded to the input grid, so ezkl's quantization
reproduces it exactly and the commitment covers what the circuit reads.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import nn

from models.base import ReferenceModel, fit_minibatches
from prover.config import CircuitConfig

#: (name, unit, center, spread, log) per feature, in the input tensor's order; the score is
#: (f(raw) - center) / spread with f = ln for income, identity otherwise
FEATURES: tuple[tuple[str, str, float, float, bool], ...] = (
    ("income", "USD per year", math.log(50_000), 0.5, True),
    ("debt_to_income", "percent", 20.0, 10.0, False),
    ("credit_history_years", "years", 10.0, 5.0, False),
    ("delinquencies", "late payments in 2 years", 1.0, 1.5, False),
    ("utilization", "percent of revolving limits", 40.0, 20.0, False),
    ("open_accounts", "accounts", 8.0, 4.0, False),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, *_ in FEATURES)
N_FEATURES = len(FEATURES)
#: whole-number features (counts)
COUNT_FEATURES = frozenset({"delinquencies", "open_accounts"})
#: every feature score saturates to [-DOMAIN, DOMAIN]; salt words lie in [-DOMAIN, DOMAIN)
DOMAIN = 4
#: random words after the features, inside the one hashed tensor
SALT_WORDS = 16
#: the least entropy a salt must carry; `salt_bits` refuses a scale that gives less
MIN_SALT_BITS = 128
#: probability-of-default bands' upper edges; band k is [EDGES[k-1], EDGES[k])
RISK_BAND_EDGES: tuple[float, ...] = (0.02, 0.05, 0.10, 0.20)
RISK_BAND_NAMES: tuple[str, ...] = ("very low", "low", "moderate", "high", "very high")

#: population sizes and seed offsets: training, calibration and held-out never share a borrower
_N_TRAIN, _N_HELDOUT, _N_CALIBRATION = 16_000, 2_000, 64
_HELDOUT_SEED_OFFSET = 1000
_SALT_SEED_OFFSET = 2000


def salt_bits(input_scale: int) -> int:
    """Bits of entropy in one salt word at `input_scale`: it is one of 2 * DOMAIN * 2**scale values."""
    return input_scale + int(math.log2(2 * DOMAIN))


def check_salt_strength(input_scale: int) -> None:
    """ValueError unless SALT_WORDS words carry MIN_SALT_BITS at this scale."""
    total = SALT_WORDS * salt_bits(input_scale)
    if total < MIN_SALT_BITS:
        raise ValueError(
            f"a credit circuit at input scale {input_scale} holds a {total}-bit salt, below {MIN_SALT_BITS}: "
            f"build it with input scale >= {MIN_SALT_BITS // SALT_WORDS - int(math.log2(2 * DOMAIN))}"
        )


def random_salt(input_scale: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """SALT_WORDS grid values in [-DOMAIN, DOMAIN): from the OS's CSPRNG, or `rng` for seeded
    datasets (a dataset's salt protects nothing; a borrower's must be secret)."""
    check_salt_strength(input_scale)
    unit = 1 << input_scale
    span = 2 * DOMAIN * unit
    if rng is None:
        words = [secrets.randbelow(span) for _ in range(SALT_WORDS)]
    else:
        words = rng.integers(0, span, size=SALT_WORDS).tolist()
    return np.asarray([(w - DOMAIN * unit) / unit for w in words], dtype=np.float64)


def _number(raw: Mapping[str, Any], name: str) -> float:
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"credit feature {name!r} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"credit feature {name!r} must be >= 0, got {value!r}")
    if name in COUNT_FEATURES and value != int(value):
        raise ValueError(f"credit feature {name!r} is a count: a whole number, got {value!r}")
    if name == "income" and value <= 0:
        raise ValueError(f"credit feature 'income' must be > 0, got {value!r}")
    return float(value)


def check_features(raw: Any) -> dict[str, float]:
    """A borrower's raw features: exactly the six names, each a number in its domain."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"credit input must be an object with {', '.join(FEATURE_NAMES)}")
    missing = [name for name in FEATURE_NAMES if name not in raw]
    unknown = sorted(set(raw) - set(FEATURE_NAMES))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise ValueError(f"credit input: {'; '.join(parts)} (expected {', '.join(FEATURE_NAMES)})")
    return {name: _number(raw, name) for name in FEATURE_NAMES}


def feature_scores(features: np.ndarray) -> np.ndarray:
    """(n, N_FEATURES) raw features -> (n, N_FEATURES) saturated scores (not yet on the grid)."""
    columns = []
    for index, (_, _, center, spread, log) in enumerate(FEATURES):
        raw = features[:, index].astype(np.float64)
        value = np.log(np.maximum(raw, 1.0)) if log else raw
        columns.append(np.clip((value - center) / spread, -DOMAIN, DOMAIN))
    return np.stack(columns, axis=1)


def on_grid(values: np.ndarray, input_scale: int) -> np.ndarray:
    """Round to the 2**-input_scale grid (half away from zero), exactly representable."""
    unit = float(1 << input_scale)
    return (np.sign(values) * np.floor(np.abs(values) * unit + 0.5) / unit).astype(np.float64)


def simulate_population(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded synthetic population: raw features (count, N_FEATURES) and defaults (count,).

    One latent risk factor drives lower income, higher debt-to-income, more delinquencies
    and higher utilization together; age drives history length and open accounts; the
    default probability is a logistic function of the observed features plus the part of
    the risk they do not reveal, with a base rate near 8 %.
    """
    rng = np.random.default_rng(seed)
    risk = rng.standard_normal(count)
    age = rng.uniform(21, 70, count)
    income = np.exp(math.log(55_000) + 0.45 * rng.standard_normal(count) - 0.18 * risk + 0.008 * (age - 40))
    income = np.clip(np.round(income, -2), 8_000, 400_000)
    dti = np.clip(np.round(18 + 7 * risk + 6 * rng.standard_normal(count), 1), 0, 75)
    history = np.clip(np.round(age - 18 - rng.uniform(0, 8, count) - 1.5 * np.maximum(risk, 0), 1), 0, 50)
    delinquencies = np.minimum(rng.poisson(np.exp(-1.6 + 0.9 * risk)), 12)
    utilization = np.round(100 / (1 + np.exp(-(-0.6 + 0.9 * risk + 0.5 * rng.standard_normal(count)))), 1)
    open_accounts = np.minimum(rng.poisson(3 + 0.2 * history), 40)
    logit = (
        -2.7
        - 0.8 * np.log(income / 55_000)
        + 0.04 * (dti - 20)
        - 0.03 * (history - 10)
        + 0.45 * delinquencies
        + 0.025 * (utilization - 35)
        + 0.03 * (open_accounts - 8)
        + 0.5 * risk
    )
    defaults = (rng.random(count) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    features = np.stack([income, dti, history, delinquencies, utilization, open_accounts], axis=1)
    return features.astype(np.float64), defaults


class SaltBlind(nn.Module):
    """The scoring MLP behind a slice: reads the first N_FEATURES values, never the salt.

    The probability is the network's output clamped to [0, 1] (Hardtanh), not a sigmoid:
    a sigmoid is one lookup table in the circuit, sized for every value its input can
    reach at the circuit's (summed) scale, which made this 900-row circuit need 2**16
    rows and a minute per proof. A clamp is two comparisons. Trained on the Brier score
    (mean squared error against the observed default), a proper scoring rule, the clamped
    output is still a calibrated probability.
    """

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_FEATURES, 12), nn.ReLU(), nn.Linear(12, 1), nn.Hardtanh(0.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, :N_FEATURES])


def risk_band(pd: np.ndarray) -> np.ndarray:
    """Probability of default -> band index 0 (very low) .. 4 (very high)."""
    return np.searchsorted(np.asarray(RISK_BAND_EDGES), np.asarray(pd, dtype=np.float64), side="right")


class CreditModel(ReferenceModel):
    """MLP 6 -> 12 -> 1 (clamped to [0, 1]) on salted, hashed inputs; decision is the risk band."""

    name = "credit"
    description = "probability of default from private borrower features (MLP 6-12-1, hashed salted input)"
    input_shape = (N_FEATURES + SALT_WORDS,)
    decision_name = "risk band"
    seed = 0
    circuit = CircuitConfig(
        input_visibility="hashed",  # one Poseidon hash on chain: the attested commitment
        output_visibility="public",
        param_visibility="fixed",
        input_scale=7,
        decomp_base=1024,
        decomp_legs=2,
        num_inner_cols=1,
        logrows=None,
        # half a percentage point of PD: a lender's terms move in steps far coarser than that;
        # band agreement below 100 % allows the rare borrower within that error of a band edge
        max_rel_error=None,
        max_error=0.005,
        min_agreement=0.98,
        coverage="input-box",  # every borrower `commit` accepts proves
    )

    #: Adam settings: a few seconds on one CPU thread
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 1e-2

    @cached_property
    def _train_population(self) -> tuple[np.ndarray, np.ndarray]:
        return simulate_population(_N_TRAIN, self.seed)

    @cached_property
    def _heldout_population(self) -> tuple[np.ndarray, np.ndarray]:
        return simulate_population(_N_HELDOUT, self.seed + _HELDOUT_SEED_OFFSET)

    def _salted(self, features: np.ndarray, salt_seed: int) -> np.ndarray:
        """Raw features -> (n, N_FEATURES + SALT_WORDS) float32 on the circuit's grid, with a
        seeded salt per row (these rows are data sets, not secrets)."""
        scale = self.circuit.input_scale
        rng = np.random.default_rng(salt_seed)
        scores = on_grid(feature_scores(features), scale)
        salts = np.stack([random_salt(scale, rng) for _ in range(len(features))])
        return np.concatenate([scores, salts], axis=1).astype(np.float32)

    def training_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores with seeded salt (n, 22) float32, defaults (n, 1); the salt is never read."""
        features, defaults = self._train_population
        x = self._salted(features, self.seed + _SALT_SEED_OFFSET)
        return torch.from_numpy(x), torch.from_numpy(defaults).unsqueeze(1)

    def train(self) -> nn.Module:
        """Adam on the Brier score: squared error of the probability against observed defaults."""
        x, y = self.training_tensors()
        return fit_minibatches(
            SaltBlind,
            x,
            y,
            nn.functional.mse_loss,
            seed=self.seed,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
        )

    @cached_property
    def _calibration(self) -> np.ndarray:
        """Training borrowers plus the two corners of the feature domain."""
        features, _ = self._train_population
        rows = self._salted(features[: _N_CALIBRATION - 2], self.seed + _SALT_SEED_OFFSET + 1)
        corners = np.stack([np.full(N_FEATURES + SALT_WORDS, sign * DOMAIN, dtype=np.float32) for sign in (-1, 1)])
        return np.concatenate([rows, corners])

    @cached_property
    def _heldout(self) -> np.ndarray:
        features, _ = self._heldout_population
        return self._salted(features, self.seed + _SALT_SEED_OFFSET + 2)

    def heldout_defaults(self) -> np.ndarray:
        """Whether each held-out borrower defaulted, aligned with `heldout_set`."""
        return self._heldout_population[1].copy()

    def heldout_features(self) -> np.ndarray:
        """Raw features of the held-out borrowers, aligned with `heldout_set`."""
        return self._heldout_population[0].copy()

    def calibration_set(self) -> np.ndarray:
        return self._calibration.copy()

    def heldout_set(self) -> np.ndarray:
        return self._heldout.copy()

    def decisions(self, outputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(outputs)
        return risk_band(outputs.reshape(len(outputs), -1)[:, 0]).astype(np.int64)

    def explain(self, outputs: np.ndarray) -> list[tuple[str, str]]:
        pd = float(np.ravel(outputs)[0])
        band = int(risk_band(np.asarray([pd]))[0])
        return [
            ("probability of default", f"{100 * pd:.2f} % within a year"),
            ("risk band", f"{RISK_BAND_NAMES[band]} (band {band + 1} of {len(RISK_BAND_NAMES)})"),
        ]

    def encode(self, raw: Any, input_scale: int) -> np.ndarray:
        """Raw features (an object of the six names) -> (1, 22) float32: scores on the grid,
        then a fresh secret salt. Each call draws a new salt, hence a new commitment."""
        features = check_features(raw)
        row = np.asarray([[features[name] for name in FEATURE_NAMES]], dtype=np.float64)
        scores = on_grid(feature_scores(row), input_scale)[0]
        return np.concatenate([scores, random_salt(input_scale)]).reshape(1, -1).astype(np.float32)

    def example_input(self) -> np.ndarray:
        """One held-out borrower with a fresh secret salt."""
        features = self.heldout_features()[0]
        return self.encode(dict(zip(FEATURE_NAMES, features.tolist(), strict=True)), self.circuit.input_scale)
