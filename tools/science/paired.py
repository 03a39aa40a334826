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


def _stats(true: Sequence[np.ndarray], pred: Sequence[np.ndarray], centre: tuple[float, float]) -> np.ndarray:
    """Per record: (tokens, Σy, Σp, Σy², Σp², Σyp) around `centre`, so one-pass sums keep their precision."""
    out = np.zeros((len(true), 6))
    for i, (y, p) in enumerate(zip(true, pred, strict=True)):
        yc, pc = y - centre[0], p - centre[1]
        out[i] = (y.size, yc.sum(), pc.sum(), yc @ yc, pc @ pc, yc @ pc)
    return out


def _r(sums: np.ndarray) -> np.ndarray:
    n, sy, sp, syy, spp, syp = sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        var_y, var_p = syy - sy * sy / n, spp - sp * sp / n
        r = (syp - sy * sp / n) / np.sqrt(var_y * var_p)
    scale = np.maximum(np.abs(syy) + np.abs(spp), 1.0)
    return np.where((n >= 2) & (var_y > 1e-12 * scale) & (var_p > 1e-12 * scale), np.clip(r, -1.0, 1.0), np.nan)


def _arrays(values: Sequence[npt.ArrayLike]) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def weighted_pooled_r(true: Sequence[npt.ArrayLike], pred: Sequence[npt.ArrayLike], weights: Sequence[float] | None = None) -> float | None:
    """Pooled Pearson r over all tokens of all records, each token counting as its record's weight."""
    if not true:
        return None
    ys, ps = _arrays(true), _arrays(pred)
    w = np.ones(len(ys)) if weights is None else np.asarray(weights, dtype=np.float64)
    centre = (float(np.concatenate(ys).mean()), float(np.concatenate(ps).mean()))
    value = _r((w[:, None] * _stats(ys, ps, centre)).sum(axis=0, keepdims=True))[0]
    return None if np.isnan(value) else float(value)


def _resample_counts(strata: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, records) how often each record is drawn, drawing within each stratum as many as it holds."""
    n = len(strata)
    counts = np.zeros((n_resamples, n))
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        picks = members[rng.integers(0, len(members), (n_resamples, len(members)))]
        # One bincount for all resamples: row r's picks are counted at r * n + record.
        flat = (np.arange(n_resamples)[:, None] * n + picks).ravel()
        counts += np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n)
    return counts


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
    sa = w[:, None] * _stats(ys, pa, (centre_y, float(np.concatenate(pa).mean())))
    sb = w[:, None] * _stats(ys, pb, (centre_y, float(np.concatenate(pb).mean())))
    ra, rb = _r(sa.sum(axis=0, keepdims=True))[0], _r(sb.sum(axis=0, keepdims=True))[0]
    delta = None if np.isnan(ra) or np.isnan(rb) else float(rb - ra)
    if len(ys) < 2 or delta is None:
        return PairedComparison(delta, None, None, len(ys))
    groups = np.zeros(len(ys), dtype=np.int64) if strata is None else np.asarray(strata)
    counts = _resample_counts(groups, n_resamples, np.random.default_rng(seed))
    diffs = _r(counts @ sb) - _r(counts @ sa)
    diffs = diffs[~np.isnan(diffs)]
    if len(diffs) < n_resamples / 2:
        return PairedComparison(delta, None, None, len(ys))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return PairedComparison(delta, float((diffs > 0).mean()), (float(low), float(high)), len(ys))
