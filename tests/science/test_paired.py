"""Paired comparison of two explanations on the same records (docs/science.md#choosing)."""

from __future__ import annotations

import numpy as np

from tools.science.paired import compare_paired, weighted_pooled_r
from tools.science.scoring import aggregate_correlation


def records(n: int, length: int = 12, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.gamma(0.5, 1.0, length) for _ in range(n)]


def test_unweighted_pooled_r_is_the_published_score() -> None:
    true = records(6)
    pred = [t + np.random.default_rng(1).normal(0, 0.5, t.shape) for t in true]
    assert abs(weighted_pooled_r(true, pred) - aggregate_correlation(list(zip(true, pred, strict=True))).value) < 1e-12  # type: ignore[operator]


def test_weights_count_each_token_as_its_record() -> None:
    true = records(4)
    pred = [t * (1 if i < 2 else -1) for i, t in enumerate(true)]
    # Doubling a record's weight is the same as showing it twice.
    doubled = weighted_pooled_r(true + true[:1], pred + pred[:1])
    assert abs(weighted_pooled_r(true, pred, [2, 1, 1, 1]) - doubled) < 1e-12  # type: ignore[operator]


def test_a_clearly_better_prediction_wins_with_confidence() -> None:
    true = records(40)
    rng = np.random.default_rng(2)
    good = [t + rng.normal(0, 0.2, t.shape) for t in true]
    poor = [t + rng.normal(0, 2.0, t.shape) for t in true]
    result = compare_paired(true, poor, good)
    assert result.delta is not None and result.delta > 0.2
    assert result.p_better is not None and result.p_better > 0.99 and result.ci is not None and result.ci[0] > 0


def test_a_noise_level_difference_is_not_called_a_win() -> None:
    true = records(30)
    rng = np.random.default_rng(3)
    a = [t + rng.normal(0, 1.0, t.shape) for t in true]
    b = [p + rng.normal(0, 0.05, p.shape) for p in a]  # the same prediction, jittered
    result = compare_paired(true, a, b)
    assert result.p_better is not None and 0.05 < result.p_better < 0.95
    assert result.ci is not None and result.ci[0] < 0 < result.ci[1]


def test_strata_keep_their_share_in_every_resample() -> None:
    true = records(10)
    a = [t for t in true]
    b = [t + 0.01 for t in true]
    # With one record per stratum the only resample is the data itself: no spread at all.
    result = compare_paired(true[:2], a[:2], [t * 2 for t in true[:2]], strata=[0, 1], n_resamples=50)
    assert result.ci is not None and result.ci[0] == result.ci[1]
    assert compare_paired(true, a, b).delta == 0.0 or abs(compare_paired(true, a, b).delta or 0) < 1e-12
