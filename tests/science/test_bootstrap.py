"""The vectorized bootstrap equals its definition: pooled Pearson r of each resample of whole records
(docs/science.md#bootstrap)."""

from __future__ import annotations

import numpy as np
import pytest

from tools.science.scoring import Pair, bootstrap_ci, pearson


def by_definition(pairs: list[Pair], n_resamples: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """One `pearson` per resample over the concatenated records (the slow, obvious way)."""
    picks = np.random.default_rng(seed).integers(0, len(pairs), (n_resamples, len(pairs)))
    scores = []
    for pick in picks:
        r = pearson(np.concatenate([np.asarray(pairs[i][0], dtype=float) for i in pick]),
                    np.concatenate([np.asarray(pairs[i][1], dtype=float) for i in pick]))
        if r.value is not None:
            scores.append(r.value)
    if len(scores) < n_resamples / 2:
        return None
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def _pairs(rng: np.random.Generator, n: int, kinds: tuple[str, ...]) -> list[Pair]:
    out: list[Pair] = []
    for i in range(n):
        length = int(rng.integers(0, 20))
        y = rng.gamma(1.0, 1.0, length) * 10 + 500  # far from 0: the pooled sums must not lose precision
        p = np.round(y / 100 + rng.normal(0, 1, length))
        kind = kinds[i % len(kinds)]
        if kind == "flat-true":
            y = np.full(length, 3.0)
        elif kind == "flat-sim":
            p = np.zeros(length)
        elif kind == "nan" and length:
            p[0] = np.nan
        out.append((y.tolist(), p.tolist()))
    return out


@pytest.mark.parametrize("kinds", [("plain",), ("plain", "flat-true"), ("plain", "flat-sim", "flat-sim"), ("plain", "nan", "plain", "plain")])
def test_vectorized_bootstrap_matches_the_definition(kinds: tuple[str, ...]) -> None:
    rng = np.random.default_rng(len(kinds))
    for trial in range(20):
        pairs = _pairs(rng, int(rng.integers(2, 15)), kinds)
        got, want = bootstrap_ci(pairs, seed=trial), by_definition(pairs, seed=trial)
        assert (got is None) == (want is None), (got, want)
        if got is not None and want is not None:
            assert got == pytest.approx(want, abs=1e-9)


def test_undefined_resamples_give_no_interval() -> None:
    constant_true = [([1.0, 1.0], [0.0, 1.0])] * 6
    assert bootstrap_ci(constant_true, seed=0) is None
    assert bootstrap_ci(constant_true[:1]) is None  # one record: nothing to resample
