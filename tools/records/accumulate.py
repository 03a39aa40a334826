"""Streaming per-neuron statistics over a corpus pass, in memory that does not grow with the corpus.

For each of N neurons, over excerpts of T tokens fed in batches of raw activations (b, T, N):
- the top-k excerpts ranked by their maximum activation over tokens (values kept for all T tokens);
- a uniform random sample of excerpts, drawn independently for every neuron before the pass;
- random samples per activation-quantile bin: bin boundaries are quantiles of the per-excerpt
  maximum, estimated on a calibration prefix of the pass (the excerpts are fed in a seeded random
  order, so the prefix is itself a uniform sample); later excerpts fill one reservoir per bin;
- the moments of the activation distribution over all tokens.
Memory is O(N * (k + n_random + bins * n_per_bin) * T); the corpus is only ever read in batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from tools.records.moments import StreamingMoments

QUANTILES = (0.0, 0.5, 0.9, 0.99, 0.999)


@dataclass(frozen=True)
class NeuronSample:
    """Excerpt indices and activations (raw units, shape (records, T)) of one neuron's sample."""

    excerpts: np.ndarray
    activations: np.ndarray


@dataclass(frozen=True)
class NeuronSummary:
    top: NeuronSample
    random: NeuronSample
    by_quantile: list[NeuronSample]
    quantile_boundaries: list[float]
    moments: dict[str, float | None]


class LayerAccumulator:
    def __init__(
        self,
        n_neurons: int,
        n_excerpts: int,
        length: int,
        top_k: int = 50,
        n_random: int = 50,
        n_per_quantile: int = 5,
        calibration_excerpts: int = 2048,
        seed: int = 0,
    ) -> None:
        self.n, self.length, self.k = n_neurons, length, min(top_k, n_excerpts)
        self.n_random = min(n_random, n_excerpts)
        self.n_bins, self.per_bin = len(QUANTILES) - 1, n_per_quantile
        self.calibration = max(1, min(calibration_excerpts, n_excerpts // 2))
        rng = np.random.default_rng(seed)
        self.order = rng.permutation(n_excerpts)
        self._rng = np.random.default_rng([seed, 1])
        self.processed = 0

        self.top_vals = np.full((self.k, self.n), -np.inf, dtype=np.float32)
        self.top_idx = np.full((self.k, self.n), -1, dtype=np.int64)
        self.top_acts = np.zeros((self.k, self.n, length), dtype=np.float32)

        # Independent random sample per neuron, inverted to excerpt -> (neuron positions, slots).
        self.rand_idx = np.stack([rng.choice(n_excerpts, self.n_random, replace=False) for _ in range(self.n)])
        self.rand_acts = np.zeros((self.n, self.n_random, length), dtype=np.float32)
        flat = self.rand_idx.ravel()
        sort = np.argsort(flat, kind="stable")
        neurons, slots = np.divmod(sort, self.n_random)
        starts = np.searchsorted(flat[sort], np.arange(n_excerpts + 1))
        self._rand_lookup = (neurons, slots, starts)

        self.moments = StreamingMoments(self.n)
        self.calib_max = np.zeros((self.calibration, self.n), dtype=np.float32)
        self.boundaries: np.ndarray | None = None
        self.bin_count = np.zeros((self.n, self.n_bins), dtype=np.int64)
        self.bin_idx = np.full((self.n, self.n_bins, self.per_bin), -1, dtype=np.int64)
        self.bin_acts = np.zeros((self.n, self.n_bins, self.per_bin, length), dtype=np.float32)

    def batches(self, batch_size: int) -> list[np.ndarray]:
        """The excerpt indices still to feed, in pass order, cut into batches."""
        rest = self.order[self.processed :]
        return [rest[i : i + batch_size] for i in range(0, len(rest), batch_size)]

    def update(self, excerpts: np.ndarray, acts: np.ndarray) -> None:
        """Feed excerpts (the next indices of `self.order`) and their activations (b, T, N)."""
        b = len(excerpts)
        expected = self.order[self.processed : self.processed + b]
        if not np.array_equal(excerpts, expected):
            raise ValueError("excerpts must be fed in the accumulator's pass order")
        acts = np.asarray(acts, dtype=np.float32)
        maxes = acts.max(axis=1)  # (b, N)
        self.moments.update(acts.reshape(-1, self.n))
        self._update_top(excerpts, acts, maxes)
        self._update_random(excerpts, acts)
        self._update_bins(excerpts, acts, maxes)
        self.processed += b

    def _update_top(self, excerpts: np.ndarray, acts: np.ndarray, maxes: np.ndarray) -> None:
        cols = np.flatnonzero((maxes > self.top_vals[-1]).any(axis=0))
        if cols.size == 0:
            return
        vals = np.concatenate([self.top_vals[:, cols], maxes[:, cols]])
        idx = np.concatenate([self.top_idx[:, cols], np.repeat(excerpts[:, None], cols.size, axis=1)])
        stored = np.concatenate([self.top_acts[:, cols], acts[:, :, cols].transpose(0, 2, 1)])
        # Stable sort: on ties the excerpt seen first keeps its place, so results never depend on batching.
        pick = np.argsort(-vals, axis=0, kind="stable")[: self.k]
        col_ix = np.arange(cols.size)[None, :]
        self.top_vals[:, cols] = vals[pick, col_ix]
        self.top_idx[:, cols] = idx[pick, col_ix]
        self.top_acts[:, cols] = stored[pick, col_ix]

    def _update_random(self, excerpts: np.ndarray, acts: np.ndarray) -> None:
        neurons, slots, starts = self._rand_lookup
        for row, e in enumerate(excerpts):
            lo, hi = starts[e], starts[e + 1]
            if hi > lo:
                ns = neurons[lo:hi]
                self.rand_acts[ns, slots[lo:hi]] = acts[row][:, ns].T

    def _update_bins(self, excerpts: np.ndarray, acts: np.ndarray, maxes: np.ndarray) -> None:
        for row, e in enumerate(excerpts):
            position = self.processed + row
            if position < self.calibration:
                self.calib_max[position] = maxes[row]
                if position == self.calibration - 1:
                    self.boundaries = np.quantile(self.calib_max, QUANTILES, axis=0).T.astype(np.float32)  # (N, 5)
                continue
            assert self.boundaries is not None
            m = maxes[row]
            # bin j holds boundaries[j] <= max < boundaries[j+1]; -1 if below the first or above the last.
            bins = (m[:, None] >= self.boundaries).sum(axis=1) - 1
            bins[bins >= self.n_bins] = -1
            ns = np.flatnonzero(bins >= 0)
            if ns.size == 0:
                continue
            bs = bins[ns]
            counts = self.bin_count[ns, bs]
            draw = self._rng.integers(0, counts + 1)
            slot = np.where(counts < self.per_bin, counts, draw)
            keep = slot < self.per_bin
            kn, kb, ks = ns[keep], bs[keep], slot[keep]
            self.bin_idx[kn, kb, ks] = e
            self.bin_acts[kn, kb, ks] = acts[row][:, kn].T
            self.bin_count[ns, bs] += 1

    def summary(self, position: int) -> NeuronSummary:
        """Everything gathered for the neuron at `position` (after the whole pass)."""
        if self.processed < len(self.order):
            raise ValueError(f"pass incomplete: {self.processed} of {len(self.order)} excerpts fed")
        found = self.top_idx[:, position] >= 0
        moments = {k: (float(v[position]) if np.isfinite(v[position]) else None) for k, v in self.moments.result().items()}
        bins = []
        for j in range(self.n_bins):
            filled = int(min(self.bin_count[position, j], self.per_bin))
            bins.append(NeuronSample(self.bin_idx[position, j, :filled].copy(), self.bin_acts[position, j, :filled].copy()))
        bounds = self.boundaries[position].tolist() if self.boundaries is not None else []
        return NeuronSummary(
            top=NeuronSample(self.top_idx[found, position].copy(), self.top_acts[found, position].copy()),
            random=NeuronSample(self.rand_idx[position].copy(), self.rand_acts[position].copy()),
            by_quantile=bins,
            quantile_boundaries=[float(b) for b in bounds],
            moments=moments,
        )

    _STATE = ("order", "top_vals", "top_idx", "top_acts", "rand_idx", "rand_acts", "calib_max", "bin_count", "bin_idx", "bin_acts")

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that fully describe the pass so far (for a checkpoint)."""
        out = {name: getattr(self, name) for name in self._STATE}
        out.update({f"moments_{k}": v for k, v in self.moments.state().items()})
        out["processed"] = np.array(self.processed)
        out["rng"] = np.array(json.dumps(self._rng.bit_generator.state))
        if self.boundaries is not None:
            out["boundaries"] = self.boundaries
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if not np.array_equal(state["order"], self.order) or not np.array_equal(state["rand_idx"], self.rand_idx):
            raise ValueError("checkpoint was made with another corpus or seed")
        for name in self._STATE:
            setattr(self, name, np.array(state[name]))
        self.moments.load_state({k.removeprefix("moments_"): v for k, v in state.items() if k.startswith("moments_")})
        self.processed = int(state["processed"])
        self._rng.bit_generator.state = json.loads(str(state["rng"]))
        self.boundaries = np.array(state["boundaries"]) if "boundaries" in state else None
