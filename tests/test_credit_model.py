"""The credit model: the salt is never read, is strong enough, and the score means something.

No ezkl here (the commitment and the proof are tested in test_credit_chain.py): these guard
what the commitment's privacy rests on (the salt is in the tensor, random, ignored by the
network, >= 128 bits at the circuit's scale) and that the model prices risk at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.credit import (
    DOMAIN,
    FEATURE_NAMES,
    MIN_SALT_BITS,
    N_FEATURES,
    SALT_WORDS,
    CreditModel,
    check_features,
    check_salt_strength,
    random_salt,
    salt_bits,
)

PROFILE = {
    "income": 61_250,
    "debt_to_income": 27.5,
    "credit_history_years": 6.5,
    "delinquencies": 1,
    "utilization": 48.5,
    "open_accounts": 9,
}


@pytest.fixture(scope="module")
def credit() -> CreditModel:
    return CreditModel()


@pytest.fixture(scope="module")
def credit_net(credit: CreditModel) -> torch.nn.Module:
    return credit.train()


def _pd(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy().ravel()


def test_encode_puts_scores_then_a_fresh_salt_in_one_tensor(credit: CreditModel) -> None:
    scale = credit.circuit.input_scale
    first, second = credit.encode(PROFILE, scale), credit.encode(PROFILE, scale)
    assert first.shape == second.shape == (1, N_FEATURES + SALT_WORDS) == (1, *credit.input_shape)
    assert np.array_equal(first[0, :N_FEATURES], second[0, :N_FEATURES]), "features encode deterministically"
    assert not np.array_equal(first[0, N_FEATURES:], second[0, N_FEATURES:]), "each encoding draws a new salt"
    for row in (first, second):
        fixed = row.astype(np.float64) * 2**scale
        assert np.array_equal(fixed, np.rint(fixed)), "every value on the circuit's grid"
        assert np.all(np.abs(row) <= DOMAIN), "salt and scores inside the domain the circuit accepts"


def test_the_network_never_reads_the_salt(credit: CreditModel, credit_net: torch.nn.Module) -> None:
    rows = np.repeat(credit.heldout_set()[:8], 3, axis=0)
    rng = np.random.default_rng(1)
    scale = credit.circuit.input_scale
    rows[:, N_FEATURES:] = np.stack([random_salt(scale, rng) for _ in range(len(rows))])
    pd = _pd(credit_net, rows).reshape(8, 3)
    assert np.array_equal(pd, np.repeat(pd[:, :1], 3, axis=1))


def test_salt_strength_at_the_model_scale_and_refused_below(credit: CreditModel) -> None:
    assert SALT_WORDS * salt_bits(credit.circuit.input_scale) >= MIN_SALT_BITS
    assert salt_bits(7) == 7 + int(math.log2(2 * DOMAIN))
    weakest = next(scale for scale in range(25) if SALT_WORDS * salt_bits(scale) >= MIN_SALT_BITS)
    check_salt_strength(weakest)
    with pytest.raises(ValueError, match="below 128"):
        check_salt_strength(weakest - 1)


def test_salt_words_cover_their_whole_range() -> None:
    """Every word is one of 2 * DOMAIN * 2**scale grid values: draws reach both ends."""
    scale = 4
    words = np.concatenate([random_salt(scale + 1, np.random.default_rng(seed)) for seed in range(200)])
    unit = 2 ** (scale + 1)
    assert words.min() == -DOMAIN and words.max() == DOMAIN - 1 / unit
    assert len(np.unique(words)) == 2 * DOMAIN * unit


def test_risk_is_priced(credit: CreditModel, credit_net: torch.nn.Module) -> None:
    """Held-out borrowers who defaulted score higher than those who did not (AUC well above 0.5),
    and each worsening of one feature moves the PD up or leaves it."""
    pd = _pd(credit_net, credit.heldout_set())
    defaults = credit.heldout_defaults().astype(bool)
    ranks = pd.argsort().argsort()
    auc = (ranks[defaults].mean() - (defaults.sum() - 1) / 2) / (~defaults).sum()
    assert auc > 0.8
    assert len(np.unique(credit.decisions(pd.reshape(-1, 1)))) == 5, "every risk band is used"
    scale = credit.circuit.input_scale
    base = _pd(credit_net, credit.encode(PROFILE, scale))[0]
    for name, worse in (("delinquencies", 4), ("utilization", 95.0), ("debt_to_income", 55.0)):
        assert _pd(credit_net, credit.encode({**PROFILE, name: worse}, scale))[0] >= base, name


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**PROFILE, "delinquencies": 1.5}, "whole number"),
        ({**PROFILE, "income": 0}, "income"),
        ({**PROFILE, "utilization": -1}, ">= 0"),
        ({**PROFILE, "income": float("nan")}, "finite"),
        ({**PROFILE, "income": True}, "finite number"),
        ({**PROFILE, "income": "lots"}, "finite number"),
        ({name: 1 for name in FEATURE_NAMES[:-1]}, "missing open_accounts"),
        ({**PROFILE, "age": 40}, "unknown age"),
        ([1, 2, 3], "an object"),
    ],
)
def test_bad_features_are_refused_by_name(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_features(raw)


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "income": st.floats(1, 1e9),
            "debt_to_income": st.floats(0, 1e6),
            "credit_history_years": st.floats(0, 1e4),
            "delinquencies": st.integers(0, 10**6),
            "utilization": st.floats(0, 1e6),
            "open_accounts": st.integers(0, 10**6),
        }
    )
)
def test_any_valid_borrower_encodes_inside_the_domain(raw: dict[str, float]) -> None:
    """Saturation keeps every accepted borrower inside the box the circuit proves (rule 6)."""
    row = CreditModel().encode(raw, 7)
    assert np.all(np.abs(row) <= DOMAIN) and np.all(np.isfinite(row))
