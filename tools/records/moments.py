"""Streaming central moments per neuron (Chan et al. pairwise merge), exact up to float64 rounding.

Memory is O(neurons): a batch of any size is reduced to its count, mean and central sums M2..M4,
then merged into the running totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class StreamingMoments:
    """Running count, mean and central moment sums M2, M3, M4 for each of `n` neurons."""

    n: int
    count: float = 0.0
    mean: np.ndarray = field(init=False)
    m2: np.ndarray = field(init=False)
    m3: np.ndarray = field(init=False)
    m4: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.mean, self.m2, self.m3, self.m4 = (np.zeros(self.n, dtype=np.float64) for _ in range(4))

    def update(self, values: np.ndarray) -> None:
        """Merge `values` of shape (samples, n) into the running moments."""
        x = np.asarray(values)
        # float32 activations stay float32 through the elementwise work (half the memory traffic of
        # float64, which was a tenth of a record pass); every sum accumulates in float64.
        x = x.reshape(-1, self.n) if x.dtype == np.float32 else x.astype(np.float64).reshape(-1, self.n)
        n_b = float(x.shape[0])
        if n_b == 0:
            return
        # Centred on the batch mean rounded to x's precision, then shifted exactly to the batch mean.
        centre = x.mean(axis=0, dtype=np.float64).astype(x.dtype)
        d = x - centre
        d2 = d * d
        s1, s2 = d.sum(axis=0, dtype=np.float64), d2.sum(axis=0, dtype=np.float64)
        s3, s4 = (d2 * d).sum(axis=0, dtype=np.float64), (d2 * d2).sum(axis=0, dtype=np.float64)
        shift = s1 / n_b
        mean_b = centre + shift
        m2_b = s2 - n_b * shift**2
        m3_b = s3 - 3.0 * shift * s2 + 2.0 * n_b * shift**3
        m4_b = s4 - 4.0 * shift * s3 + 6.0 * shift**2 * s2 - 3.0 * n_b * shift**4
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        self.m4 = (
            self.m4
            + m4_b
            + delta**4 * n_a * n_b * (n_a * n_a - n_a * n_b + n_b * n_b) / n**3
            + 6.0 * delta**2 * (n_a * n_a * m2_b + n_b * n_b * self.m2) / n**2
            + 4.0 * delta * (n_a * m3_b - n_b * self.m3) / n
        )
        self.m3 = (
            self.m3 + m3_b + delta**3 * n_a * n_b * (n_a - n_b) / n**2 + 3.0 * delta * (n_a * m2_b - n_b * self.m2) / n
        )
        self.m2 = self.m2 + m2_b + delta**2 * n_a * n_b / n
        self.mean = self.mean + delta * n_b / n
        self.count = n

    def result(self) -> dict[str, np.ndarray]:
        """Mean, population variance, skewness and excess kurtosis (NaN where the variance is 0)."""
        n = self.count
        var = self.m2 / n if n else np.full(self.n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = np.where(var > 0, (self.m3 / n) / var**1.5, np.nan)
            kurt = np.where(var > 0, (self.m4 / n) / var**2 - 3.0, np.nan)
        return {"mean": self.mean.copy(), "variance": var, "skewness": skew, "kurtosis": kurt}

    def state(self) -> dict[str, np.ndarray]:
        return {"count": np.array(self.count), "mean": self.mean, "m2": self.m2, "m3": self.m3, "m4": self.m4}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.count = float(state["count"])
        self.mean, self.m2, self.m3, self.m4 = (np.array(state[k], dtype=np.float64) for k in ("mean", "m2", "m3", "m4"))
