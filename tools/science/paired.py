"""Comparing two explanations on the same records: weighted pooled correlation and a paired bootstrap.

Both predictions are scored on the same tokens, so the noise of which records happened to be drawn
is shared and cancels in the difference. Records may carry weights (each token counts as its
record's weight), which lets a selection set hold many cheap random excerpts without changing the
top-vs-random mixture it stands for; resampling then draws records within their stratum (top
records among top records), so every resample keeps that mixture too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.science.pooled import pooled_r, record_sums, resample_counts

RESAMPLES = 1000


@dataclass(frozen=True)
class PairedComparison:
    """score(b) - score(a) on the same records, and how sure a paired bootstrap is that it is above 0."""

    delta: float | None
    """Weighted pooled r of b minus that of a; None when either is undefined."""
    p_better: float | None
    """Share of resamples (with both scores defined) in which b scores above a."""
    ci: tuple[float, float] | None
    """Percentile interval of the difference at the requested confidence."""
    n_records: int


def _arrays(values: Sequence[npt.ArrayLike]) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def weighted_pooled_r(true: Sequence[npt.ArrayLike], pred: Sequence[npt.ArrayLike], weights: Sequence[float] | None = None) -> float | None:
    """Pooled Pearson r over all tokens of all records, each token counting as its record's weight."""
    if not true:
        return None
    ys, ps = _arrays(true), _arrays(pred)
    w = np.ones(len(ys)) if weights is None else np.asarray(weights, dtype=np.float64)
    centre = (float(np.concatenate(ys).mean()), float(np.concatenate(ps).mean()))
    value = pooled_r((w[:, None] * record_sums(ys, ps, centre)).sum(axis=0, keepdims=True))[0]
    return None if np.isnan(value) else float(value)


def compare_paired(
    true: Sequence[npt.ArrayLike], a: Sequence[npt.ArrayLike], b: Sequence[npt.ArrayLike],
    weights: Sequence[float] | None = None, strata: Sequence[int] | None = None,
    n_resamples: int = RESAMPLES, confidence: float = 0.95, seed: int = 0,
) -> PairedComparison:
    """How much better b predicts `true` than a does, with a stratified paired bootstrap over records."""
    ys, pa, pb = _arrays(true), _arrays(a), _arrays(b)
    if not (len(ys) == len(pa) == len(pb)):
        raise ValueError("true, a and b must hold the same records")
    for y, p, q in zip(ys, pa, pb, strict=True):
        if not (y.shape == p.shape == q.shape):
            raise ValueError(f"length mismatch: {y.size} true values, {p.size} and {q.size} predicted")
    if not ys:
        return PairedComparison(None, None, None, 0)
    w = np.ones(len(ys)) if weights is None else np.asarray(weights, dtype=np.float64)
    centre_y = float(np.concatenate(ys).mean())
    sa = w[:, None] * record_sums(ys, pa, (centre_y, float(np.concatenate(pa).mean())))
    sb = w[:, None] * record_sums(ys, pb, (centre_y, float(np.concatenate(pb).mean())))
    ra, rb = pooled_r(sa.sum(axis=0, keepdims=True))[0], pooled_r(sb.sum(axis=0, keepdims=True))[0]
    delta = None if np.isnan(ra) or np.isnan(rb) else float(rb - ra)
    if len(ys) < 2 or delta is None:
        return PairedComparison(delta, None, None, len(ys))
    groups = np.zeros(len(ys), dtype=np.int64) if strata is None else np.asarray(strata)
    counts = resample_counts(groups, n_resamples, np.random.default_rng(seed))
    diffs = pooled_r(counts @ sb) - pooled_r(counts @ sa)
    diffs = diffs[~np.isnan(diffs)]
    if len(diffs) < n_resamples / 2:
        return PairedComparison(delta, None, None, len(ys))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return PairedComparison(delta, float((diffs > 0).mean()), (float(low), float(high)), len(ys))
