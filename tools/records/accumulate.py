"""Streaming per-neuron statistics over a corpus pass, in memory that does not grow with the corpus.

For each of N neurons, over excerpts of T tokens fed in batches of raw activations (b, T, N):
- the top-k excerpts ranked by their maximum activation over tokens (values kept for all T tokens);
- a uniform random sample of excerpts, drawn independently for every neuron before the pass;
- random samples per activation-quantile bin: bin boundaries are quantiles of the per-excerpt
  maximum, estimated on a calibration prefix of the pass (the excerpts are fed in a seeded random
  order, so the prefix is itself a uniform sample); among later excerpts, each bin keeps the ones
  with the smallest hash priority of (seed, neuron, excerpt), a uniform sample without replacement;
- the moments of the activation distribution over all tokens.
Memory is O(N * (k + n_random + bins * n_per_bin) * T); the corpus is only ever read in batches.
Every choice is keyed by the neuron's own index, so a neuron's record does not depend on which
other neurons share the pass, nor on the batch size.
"""

from __future__ import annotations

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


def hash_priority(seed: int, neurons: np.ndarray, excerpt: int) -> np.ndarray:
    """A uniform-looking number in [0, 1) per neuron for one excerpt (splitmix64 finalizer)."""
    with np.errstate(over="ignore"):
        x = (np.asarray(neurons, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(
            (excerpt * 0xBF58476D1CE4E5B9 + seed * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        )
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class LayerAccumulator:
    def __init__(
        self,
        neuron_ids: list[int],
        n_excerpts: int,
        length: int,
        top_k: int = 50,
        n_random: int = 50,
        n_per_quantile: int = 5,
        calibration_excerpts: int = 2048,
        seed: int = 0,
    ) -> None:
        self.neuron_ids = np.asarray(neuron_ids, dtype=np.int64)
        self.seed = seed
        self.n, self.length, self.k = len(neuron_ids), length, min(top_k, n_excerpts)
        self.n_random = min(n_random, n_excerpts)
        self.n_bins, self.per_bin = len(QUANTILES) - 1, n_per_quantile
        self.calibration = max(1, min(calibration_excerpts, n_excerpts // 2))
        self.order = np.random.default_rng(seed).permutation(n_excerpts)
        self._arrival = np.argsort(self.order)
        """Position of each excerpt in the pass."""
        self.processed = 0

        self.top_vals = np.full((self.k, self.n), -np.inf, dtype=np.float32)
        self.top_idx = np.full((self.k, self.n), -1, dtype=np.int64)
        self.top_acts = np.zeros((self.k, self.n, length), dtype=np.float32)

        # Independent random sample per neuron, inverted to excerpt -> (neuron positions, slots).
        self.rand_idx = np.stack([
            np.random.default_rng([seed, int(n)]).choice(n_excerpts, self.n_random, replace=False) for n in self.neuron_ids
        ])
        self.rand_acts = np.zeros((self.n, self.n_random, length), dtype=np.float32)
        flat = self.rand_idx.ravel()
        sort = np.argsort(flat, kind="stable")
        neurons, slots = np.divmod(sort, self.n_random)
        starts = np.searchsorted(flat[sort], np.arange(n_excerpts + 1))
        self._rand_lookup = (neurons, slots, starts)

        self.moments = StreamingMoments(self.n)
        self.calib_max = np.zeros((self.calibration, self.n), dtype=np.float32)
        self.boundaries: np.ndarray | None = None
        self.bin_priority = np.full((self.n, self.n_bins, self.per_bin), np.inf)
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
        # Slots are unordered (summary() sorts them): a batch only writes the entries that enter, in
        # the slots of those they push out, instead of re-sorting and copying every kept excerpt.
        cols = np.flatnonzero((maxes > self.top_vals.min(axis=0)).any(axis=0))
        if cols.size == 0:
            return
        vals = np.concatenate([self.top_vals[:, cols], maxes[:, cols]])
        held = self.top_idx[:, cols]
        arrival = np.concatenate([
            np.where(held >= 0, self._arrival[np.maximum(held, 0)], -1),
            np.broadcast_to(self.processed + np.arange(len(excerpts))[:, None], (len(excerpts), cols.size)),
        ])
        # Highest maximum first; on ties the excerpt seen first stays, so batching never matters.
        by_arrival = np.argsort(arrival, axis=0, kind="stable")
        ranked = np.take_along_axis(by_arrival, np.argsort(-np.take_along_axis(vals, by_arrival, 0), 0, kind="stable"), 0)
        kept = np.zeros(vals.shape, dtype=bool)
        np.put_along_axis(kept, ranked[: self.k], True, axis=0)
        enter_col, enter_row = np.nonzero(kept[self.k :].T)
        leave_col, leave_slot = np.nonzero(~kept[: self.k].T)  # same count per column, both ordered by column
        neurons = cols[enter_col]
        self.top_vals[leave_slot, neurons] = maxes[enter_row, neurons]
        self.top_idx[leave_slot, neurons] = excerpts[enter_row]
        self.top_acts[leave_slot, neurons] = acts[enter_row, :, neurons]

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
            priority = hash_priority(self.seed, self.neuron_ids[ns], int(e))
            # Replace the largest priority held in the bin when the newcomer's is smaller.
            worst = self.bin_priority[ns, bs].argmax(axis=1)
            keep = priority < self.bin_priority[ns, bs, worst]
            kn, kb, ks = ns[keep], bs[keep], worst[keep]
            self.bin_priority[kn, kb, ks] = priority[keep]
            self.bin_idx[kn, kb, ks] = e
            self.bin_acts[kn, kb, ks] = acts[row][:, kn].T

    def summary(self, position: int) -> NeuronSummary:
        """Everything gathered for the neuron at `position` (after the whole pass)."""
        if self.processed < len(self.order):
            raise ValueError(f"pass incomplete: {self.processed} of {len(self.order)} excerpts fed")
        found = np.flatnonzero(self.top_idx[:, position] >= 0)
        # Highest maximum first, ties in pass order (np.lexsort: last key is the primary one).
        found = found[np.lexsort((self._arrival[self.top_idx[found, position]], -self.top_vals[found, position]))]
        moments = {k: (float(v[position]) if np.isfinite(v[position]) else None) for k, v in self.moments.result().items()}
        bins = []
        for j in range(self.n_bins):
            held = np.flatnonzero(self.bin_idx[position, j] >= 0)
            held = held[np.argsort(self.bin_idx[position, j, held])]
            bins.append(NeuronSample(self.bin_idx[position, j, held].copy(), self.bin_acts[position, j, held].copy()))
        bounds = self.boundaries[position].tolist() if self.boundaries is not None else []
        return NeuronSummary(
            top=NeuronSample(self.top_idx[found, position].copy(), self.top_acts[found, position].copy()),
            random=NeuronSample(self.rand_idx[position].copy(), self.rand_acts[position].copy()),
            by_quantile=bins,
            quantile_boundaries=[float(b) for b in bounds],
            moments=moments,
        )

    _STATE = ("order", "top_vals", "top_idx", "top_acts", "rand_idx", "rand_acts", "calib_max", "bin_priority", "bin_idx", "bin_acts")

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that fully describe the pass so far (for a checkpoint)."""
        out = {name: getattr(self, name) for name in self._STATE}
        out.update({f"moments_{k}": v for k, v in self.moments.state().items()})
        out["processed"] = np.array(self.processed)
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
        self.boundaries = np.array(state["boundaries"]) if "boundaries" in state else None
