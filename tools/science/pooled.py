"""Pooled Pearson r from per-record sums, and resampling whole records: the one bootstrap behind
`scoring.bootstrap_ci` and `paired.compare_paired` (docs/science.md#bootstrap).

A record reduces to six sums; a resample's pooled sums are its records' sums times how often each
was drawn, so every resample's r comes from one matrix product instead of a loop over concatenated
tokens. The data are centred on given means first, so the one-pass sums keep their precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def record_sums(true: Sequence[np.ndarray], pred: Sequence[np.ndarray], centre: tuple[float, float]) -> np.ndarray:
    """Per record: (tokens, Σy, Σp, Σy², Σp², Σyp) around `centre`, a (records, 6) array."""
    out = np.zeros((len(true), 6))
    for i, (y, p) in enumerate(zip(true, pred, strict=True)):
        yc, pc = y - centre[0], p - centre[1]
        out[i] = (y.size, yc.sum(), pc.sum(), yc @ yc, pc @ pc, yc @ pc)
    return out


def pooled_r(sums: np.ndarray) -> np.ndarray:
    """Pearson r of each row of pooled sums; NaN where fewer than 2 tokens or a side does not vary."""
    n, sy, sp, syy, spp, syp = sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        var_y, var_p = syy - sy * sy / n, spp - sp * sp / n
        r = (syp - sy * sp / n) / np.sqrt(var_y * var_p)
    scale = np.maximum(np.abs(syy) + np.abs(spp), 1.0)
    return np.where((n >= 2) & (var_y > 1e-12 * scale) & (var_p > 1e-12 * scale), np.clip(r, -1.0, 1.0), np.nan)


def resample_counts(strata: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
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
