"""Every golden value of docs/science.md is a test; each test names its section there."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tools.science.expected_value import split_ten, value_distribution
from tools.science.normalize import nonzero_share, normalize_record, normalize_records
from tools.science.scoring import (
    absolute_dev_explained,
    aggregate_correlation,
    bootstrap_ci,
    fit_calibration,
    pearson,
    rsquared,
)


def test_normalization_golden_floors_not_rounds() -> None:
    """docs/science.md#normalization"""
    a = [-0.3, 0, 0.049, 0.05, 0.5, 0.99, 1.0, 1.2]
    assert normalize_records([a]) == [[0, 0, 0, 0, 4, 8, 8, 10]]
    assert normalize_records([a]) != [[0, 0, 1, 1, 5, 9, 9, 10]]  # Delphi's rounding up is not ours


def test_normalization_uses_the_common_max_and_handles_no_positive_value() -> None:
    """docs/science.md#normalization"""
    assert normalize_records([[1.0, 0.5], [2.0]]) == [[5, 2], [10]]
    assert normalize_record([-1.0, 0.0], 0.0) == [0, 0]
    assert nonzero_share([[0, 0, 3, 0], [0]]) == pytest.approx(0.2)


def test_expected_value_golden() -> None:
    """docs/science.md#expected-value"""
    top = [("0", math.log(0.5)), ("5", math.log(0.2)), ("10", math.log(0.1)), ("the", math.log(0.15)), (" 3", math.log(0.05))]
    dist = value_distribution(top)
    assert dist.expected_value == pytest.approx(2.5)
    assert dist.values == [0, 5, 10] and sum(dist.probabilities) == pytest.approx(1.0)
    assert dist.value_mass == pytest.approx(0.8)  # what the values had before renormalizing


def test_expected_value_without_any_value_candidate_is_zero_and_flagged() -> None:
    """docs/science.md#expected-value"""
    dist = value_distribution([("the", -0.1), (" 3", -2.0)])
    assert dist.expected_value == 0.0 and dist.kept_candidates == 0 and dist.value_mass == 0.0


def test_ten_written_as_two_tokens() -> None:
    """docs/science.md#expected-value"""
    # P("1") = 0.6 at the slot, and after the model wrote "1" the next token was "0" with p 0.75:
    # 10 has mass 0.45, 1 has 0.15, "0" keeps 0.4.
    first = [("1", math.log(0.6)), ("0", math.log(0.4))]
    dist = value_distribution(split_ten(first, 0.75))
    assert dist.expected_value == pytest.approx(10 * 0.45 + 1 * 0.15)
    unobserved = value_distribution(split_ten(first, None))
    assert unobserved.expected_value == pytest.approx(0.6)


Y = [[0, 0, 5, 0], [0, 0, 0, 0]]
YHAT = [[0, 1, 4, 0], [0, 0, 1, 0]]
PAIRS = list(zip(Y, YHAT, strict=True))


def test_scoring_golden() -> None:
    """docs/science.md#pooled-correlation and docs/science.md#auxiliary-scores"""
    assert aggregate_correlation(PAIRS).value == pytest.approx(0.9456, abs=5e-5)
    assert pearson(Y[0], YHAT[0]).value == pytest.approx(0.9685, abs=5e-5)
    second = pearson(Y[1], YHAT[1])
    assert second.value is None and second.reason == "true activations are constant"
    assert rsquared(PAIRS).value == pytest.approx(0.88)
    assert absolute_dev_explained(PAIRS).value == pytest.approx(0.40)


def test_aggregate_is_not_the_mean_of_record_correlations() -> None:
    """docs/science.md#pooled-correlation"""
    pairs = [([0, 1, 2], [0, 1, 2]), ([10, 11, 12], [0, 1, 2])]
    assert aggregate_correlation(pairs).value != pytest.approx(1.0)
    assert pearson([0, 1, 2], [0, 1, 2]).value == pytest.approx(1.0)


def test_correlation_is_invariant_to_linear_calibration() -> None:
    """docs/science.md#calibration"""
    shifted = [(y, [2 * v + 3 for v in p]) for y, p in PAIRS]
    assert aggregate_correlation(shifted).value == pytest.approx(0.9456, abs=5e-5)
    cal = fit_calibration(PAIRS)
    calibrated = [(y, cal.apply(p)) for y, p in PAIRS]
    assert aggregate_correlation(calibrated).value == pytest.approx(aggregate_correlation(PAIRS).value)
    # Least squares: calibrated residuals are uncorrelated with the prediction.
    y = np.concatenate(Y).astype(float)
    p = np.concatenate([cal.apply(x) for x in YHAT])
    assert float(np.dot(y - p, p - p.mean())) == pytest.approx(0.0, abs=1e-9)


def test_undefined_scores_carry_a_reason_never_nan() -> None:
    """docs/science.md#pooled-correlation"""
    assert aggregate_correlation([]).reason == "no records"
    flat = aggregate_correlation([([0, 1, 2], [3, 3, 3])])
    assert flat.value is None and flat.reason == "simulated values are constant"
    assert rsquared([([0, 0], [1, 1])]).value is None
    assert pearson([1.0, float("nan")], [0, 1]).reason == "non-finite values"


def test_bootstrap_resamples_records() -> None:
    """docs/science.md#bootstrap"""
    rng = np.random.default_rng(1)
    pairs = []
    for _ in range(30):
        y = rng.gamma(1.0, 1.0, 16)
        pairs.append((y.tolist(), (y + rng.normal(0, 1.0, 16)).tolist()))
    score = aggregate_correlation(pairs).value
    ci = bootstrap_ci(pairs, n_resamples=400, seed=0)
    assert ci is not None and ci[0] < score < ci[1] and ci[1] - ci[0] < 0.5
    assert bootstrap_ci(pairs, n_resamples=400, seed=0) == ci  # seeded
    assert bootstrap_ci(pairs[:1]) is None
