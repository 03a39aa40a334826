"""Streaming central moments per neuron (Chan et al. pairwise merge), exact up to float64 rounding.

Memory is O(neurons): a batch of any size is reduced to its count, mean and central sums M2..M4,
then merged into the running totals. The totals live on the device of the values fed (float64;
float32 on Apple's MPS, which has no float64), so a GPU pass never waits for the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _power_sums(x: Any, wide: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(centre, and the sums of d, d^2, d^3, d^4 accumulated in `wide`) per neuron (the last axis, the
    sums running over all others), where d = x - centre.

    Written once for numpy arrays and torch tensors alike (the two spell these operations the same).
    float32 values stay float32 through the elementwise work (half the memory traffic of float64);
    the centre is only a shift, corrected exactly by the sum of d.
    """
    axes = tuple(range(x.ndim - 1))
    centre = x.mean(axes)
    d = x - centre
    d2 = d * d
    return centre, d.sum(axes, dtype=wide), d2.sum(axes, dtype=wide), (d2 * d).sum(axes, dtype=wide), (d2 * d2).sum(axes, dtype=wide)


class StreamingMoments:
    """Running count, mean and central moment sums M2, M3, M4 for each of `n` neurons, on `device`."""

    def __init__(self, n: int, device: str | torch.device = "cpu") -> None:
        self.n = n
        self.device = torch.device(device)
        self.wide = torch.float32 if self.device.type == "mps" else torch.float64
        self.count = 0.0
        self.mean, self.m2, self.m3, self.m4 = (torch.zeros(n, dtype=self.wide, device=self.device) for _ in range(4))

    def update(self, values: torch.Tensor | np.ndarray) -> None:
        """Merge `values` of shape (..., n) (a tensor on this device, or an array) into the running moments."""
        x = torch.as_tensor(values, device=self.device)
        if x.ndim < 2 or x.shape[-1] != self.n:
            raise ValueError(f"values of shape {tuple(x.shape)}: expected (..., {self.n})")
        if x.dtype not in (torch.float32, self.wide):
            x = x.to(self.wide)
        n_b = float(x.numel() // self.n)
        if n_b == 0:
            return
        if x.device.type == "cpu":
            # numpy's column sums with a float64 accumulator run several times faster than torch's on
            # the CPU; `.numpy()` is a view of the same memory, not a copy.
            sums = [torch.from_numpy(np.asarray(s, dtype=np.float64)) for s in _power_sums(x.numpy(), np.float64)]
        else:
            sums = [s.to(self.wide) for s in _power_sums(x, self.wide)]
        centre, s1, s2, s3, s4 = sums
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
        """Mean, population variance, skewness and excess kurtosis as float64 arrays (NaN where the variance is 0)."""
        mean, m2, m3, m4 = (t.cpu().numpy().astype(np.float64) for t in (self.mean, self.m2, self.m3, self.m4))
        n = self.count
        var = m2 / n if n else np.full(self.n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = np.where(var > 0, (m3 / n) / var**1.5, np.nan)
            kurt = np.where(var > 0, (m4 / n) / var**2 - 3.0, np.nan)
        return {"mean": mean, "variance": var, "skewness": skew, "kurtosis": kurt}

    def state(self) -> dict[str, np.ndarray]:
        return {"count": np.array(self.count), **{k: getattr(self, k).cpu().numpy() for k in ("mean", "m2", "m3", "m4")}}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.count = float(state["count"])
        for k in ("mean", "m2", "m3", "m4"):
            setattr(self, k, torch.as_tensor(np.asarray(state[k]), dtype=self.wide, device=self.device).clone())
