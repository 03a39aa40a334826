"""Summary statistics for benchmark tables: means with bootstrap intervals, ratios, formatting."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000


def mean_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean, resampling the values (neurons); None for fewer than 2."""
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (RESAMPLES, len(data)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return round(float(low), 4), round(float(high), 4)


def paired_gain(before: Sequence[float | None], after: Sequence[float | None], seed: int = 0) -> dict[str, object]:
    """after - before per neuron (neurons where both are defined), its mean and the bootstrap CI of the mean."""
    diffs = [a - b for b, a in zip(before, after, strict=True) if a is not None and b is not None]
    return {
        "mean": round(float(np.mean(diffs)), 4) if diffs else None,
        "ci": mean_ci(diffs, seed=seed),
        "n": len(diffs),
        "method": "paired bootstrap over neurons: per-neuron held-out score difference, 2000 resamples, 95% percentile interval",
    }


def ratio(score: float | None, reference: float | None) -> float | None:
    """score / reference, undefined when either is missing or the reference is not positive."""
    if score is None or reference is None or reference <= 0:
        return None
    return round(score / reference, 4)


def mean_of(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def median_of(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.median(kept)), 4) if kept else None


def share(values: Sequence[float | None], at_least: float) -> float | None:
    """Fraction of the defined values that are >= `at_least`."""
    kept = [v for v in values if v is not None]
    return round(sum(v >= at_least for v in kept) / len(kept), 4) if kept else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_ci(ci: Sequence[float] | None, digits: int = 3) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
