"""Scoring an explanation by how well its simulation correlates with real activations (docs/science.md#pooled-correlation).

Undefined values are `None` with a reason, never NaN and never a silent 0. The aggregate score
pools the tokens of all records before one Pearson correlation; it is not a mean of per-record r.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.science.pooled import pooled_r, record_sums, resample_counts

Pair = tuple[Sequence[float], Sequence[float]]
"""(true raw activations, simulated values) of one record."""


@dataclass(frozen=True)
class Undefinable:
    """A number that may be undefined; `reason` says why when `value` is None."""

    value: float | None
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def pearson(true: npt.ArrayLike, predicted: npt.ArrayLike) -> Undefinable:
    y, yhat = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if y.shape != yhat.shape:
        raise ValueError(f"length mismatch: {y.size} true values, {yhat.size} simulated")
    if y.size < 2:
        return Undefinable(None, "fewer than 2 tokens")
    if not (np.isfinite(y).all() and np.isfinite(yhat).all()):
        return Undefinable(None, "non-finite values")
    if np.ptp(y) == 0:
        return Undefinable(None, "true activations are constant")
    if np.ptp(yhat) == 0:
        return Undefinable(None, "simulated values are constant")
    yc, pc = y - y.mean(), yhat - yhat.mean()
    r = float((yc @ pc) / np.sqrt((yc @ yc) * (pc @ pc)))
    return Undefinable(max(-1.0, min(1.0, r)))


def _pooled(pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros(0), np.zeros(0)
    y = np.concatenate([np.asarray(t, dtype=np.float64) for t, _ in pairs])
    yhat = np.concatenate([np.asarray(p, dtype=np.float64) for _, p in pairs])
    return y, yhat


def aggregate_correlation(pairs: Sequence[Pair]) -> Undefinable:
    """The score of an explanation: one Pearson r over the concatenation of all records' tokens."""
    if not pairs:
        return Undefinable(None, "no records")
    return pearson(*_pooled(pairs))


def rsquared(pairs: Sequence[Pair]) -> Undefinable:
    """1 - mean((y - ŷ)^2) / mean(y^2), not mean-centred (meaningful after calibration)."""
    y, yhat = _pooled(pairs)
    denom = float(np.mean(y**2)) if y.size else 0.0
    if denom == 0:
        return Undefinable(None, "true activations are all zero")
    return Undefinable(1.0 - float(np.mean((y - yhat) ** 2)) / denom)


def absolute_dev_explained(pairs: Sequence[Pair]) -> Undefinable:
    """1 - mean|y - ŷ| / mean|y| (meaningful after calibration)."""
    y, yhat = _pooled(pairs)
    denom = float(np.mean(np.abs(y))) if y.size else 0.0
    if denom == 0:
        return Undefinable(None, "true activations are all zero")
    return Undefinable(1.0 - float(np.mean(np.abs(y - yhat))) / denom)


@dataclass(frozen=True)
class Calibration:
    """y ≈ slope * ŷ + intercept, fit by least squares on a calibration split (raw activation units;
    docs/science.md#calibration)."""

    slope: float
    intercept: float

    def apply(self, values: Sequence[float]) -> list[float]:
        return [self.slope * float(v) + self.intercept for v in values]


def fit_calibration(pairs: Sequence[Pair]) -> Calibration:
    y, yhat = _pooled(pairs)
    if y.size == 0:
        return Calibration(0.0, 0.0)
    if np.ptp(yhat) == 0:
        return Calibration(0.0, float(y.mean()))
    slope, intercept = np.polyfit(yhat, y, 1)
    return Calibration(float(slope), float(intercept))


def bootstrap_ci(pairs: Sequence[Pair], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Percentile interval of the aggregate score, resampling whole records, not tokens (docs/science.md#bootstrap).

    Resamples whose score is undefined are dropped; None when fewer than half are defined."""
    if len(pairs) < 2:
        return None
    scores = _resampled_correlations(pairs, n_resamples, np.random.default_rng(seed))
    if len(scores) < n_resamples / 2:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


def _resampled_correlations(pairs: Sequence[Pair], n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """The pooled Pearson r of each resample of whole records, the undefined ones left out.

    Through per-record sums (tools/science/pooled.py), with the same cases undefined as in
    `pearson`: too few tokens, a non-finite value in a drawn record, or constant values."""
    y_parts = [np.asarray(t, dtype=np.float64) for t, _ in pairs]
    p_parts = [np.asarray(p, dtype=np.float64) for _, p in pairs]
    for y, p in zip(y_parts, p_parts, strict=True):
        if y.shape != p.shape:
            raise ValueError(f"length mismatch: {y.size} true values, {p.size} simulated")
    finite = np.array([bool(np.isfinite(y).all() and np.isfinite(p).all()) for y, p in zip(y_parts, p_parts, strict=True)])
    y_all, p_all = np.concatenate(y_parts), np.concatenate(p_parts)
    y_mu = float(y_all[np.isfinite(y_all)].mean()) if np.isfinite(y_all).any() else 0.0
    p_mu = float(p_all[np.isfinite(p_all)].mean()) if np.isfinite(p_all).any() else 0.0
    # A record with a non-finite value adds nothing to the sums; a resample that draws it is undefined.
    kept = [(y, p) if ok else (y[:0], p[:0]) for y, p, ok in zip(y_parts, p_parts, finite, strict=True)]
    stats = record_sums([y for y, _ in kept], [p for _, p in kept], (y_mu, p_mu))
    bounds = np.array([(y.min(), y.max(), p.min(), p.max()) if y.size else (np.nan,) * 4 for y, p in kept])
    counts = resample_counts(np.zeros(len(pairs), dtype=np.int64), n_resamples, rng)
    r = pooled_r(counts @ stats)
    present = (counts > 0) & (stats[:, 0] > 0)
    with np.errstate(invalid="ignore"):
        ptp_y = np.where(present, bounds[:, 1], -np.inf).max(1) - np.where(present, bounds[:, 0], np.inf).min(1)
        ptp_p = np.where(present, bounds[:, 3], -np.inf).max(1) - np.where(present, bounds[:, 2], np.inf).min(1)
    defined = (counts[:, ~finite] == 0).all(1) & (ptp_y > 0) & (ptp_p > 0) & ~np.isnan(r)
    scores: np.ndarray = r[defined]
    return scores
