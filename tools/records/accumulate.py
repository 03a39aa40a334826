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

The state lives on the device of the activations (a torch tensor from the subject's forward), and
a batch's update is a fixed sequence of tensor operations with no data-dependent shapes: nothing
waits for the host, so a GPU pass runs forward after forward. Only the finished pass (and a
checkpoint) is copied to the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import torch

from tools.records.moments import StreamingMoments
from tools.subject.device import one_cpu_thread

QUANTILES = (0.0, 0.5, 0.9, 0.99, 0.999)
_EMPTY_KEY = torch.iinfo(torch.int64).min
_NO_PRIORITY = torch.iinfo(torch.int64).max
_LOW = 1 << 32
"""Top-k keys are (max activation, order-preserving) * 2**32 + (2**32 - 1 - position in the pass)."""


@dataclass(frozen=True)
class NeuronSample:
    """Excerpt indices and activations (raw units, shape (records, T)) of one neuron's sample."""

    excerpts: np.ndarray
    activations: np.ndarray


class Moments(TypedDict):
    """Of the neuron's activations over all tokens; None where undefined (constant activations)."""

    mean: float | None
    variance: float | None
    skewness: float | None
    kurtosis: float | None


@dataclass(frozen=True)
class NeuronSummary:
    top: NeuronSample
    random: NeuronSample
    by_quantile: list[NeuronSample]
    quantile_boundaries: list[float]
    moments: Moments


def _shr(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's `>>` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _wrap(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >= 1 << 63 else value


_MIX1, _MIX2, _GOLDEN = _wrap(0xBF58476D1CE4E5B9), _wrap(0x94D049BB133111EB), _wrap(0x9E3779B97F4A7C15)


def hash_priority(seed: int, neurons: torch.Tensor, excerpts: torch.Tensor) -> torch.Tensor:
    """A uniform integer in [0, 2**53) per (excerpt, neuron): shape (len(excerpts), len(neurons)), int64.

    The splitmix64 finalizer of (neuron * golden) xor (excerpt * c1 + seed * c2); int64 arithmetic
    wraps like uint64, so the bits are those of the unsigned computation on every device.
    """
    salt = excerpts.to(torch.int64) * _MIX1 + _wrap(seed * 0x94D049BB133111EB)
    x = (neurons.to(torch.int64) * _GOLDEN)[None, :] ^ salt[:, None]
    x = x ^ _shr(x, 30)
    x = x * _MIX1
    x = x ^ _shr(x, 27)
    x = x * _MIX2
    x = x ^ _shr(x, 31)
    return _shr(x, 11)


def _ordered(values: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 with the same order (-0.0 and 0.0 equal), for exact integer sort keys."""
    bits = (values.to(torch.float32) + 0.0).view(torch.int32).to(torch.int64)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


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
        device: str | torch.device = "cpu",
        dense_updates: bool | None = None,
    ) -> None:
        self.device = dev = torch.device(device)
        self.dense_updates = dev.type != "cpu" if dense_updates is None else dense_updates
        """Rewrite every kept slot each batch (no host sync: accelerators) or move only the entrants (the CPU)."""
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
        self._order_dev = torch.as_tensor(self.order, device=dev)
        self._neurons_dev = torch.as_tensor(self.neuron_ids, device=dev)
        self._columns = torch.arange(self.n, device=dev)

        self.top_key = torch.full((self.n, self.k), _EMPTY_KEY, dtype=torch.int64, device=dev)
        self.top_acts = torch.zeros((self.n, self.k, length), dtype=torch.float32, device=dev)

        # Independent random sample per neuron; its (neuron, slot) pairs sorted by when their
        # excerpt comes in the pass, so a batch's pairs are one contiguous slice.
        self.rand_idx = np.stack([
            np.random.default_rng([seed, int(n)]).choice(n_excerpts, self.n_random, replace=False) for n in self.neuron_ids
        ]) if self.n else np.zeros((0, self.n_random), dtype=np.int64)
        self.rand_acts = torch.zeros((self.n, self.n_random, length), dtype=torch.float32, device=dev)
        when = self._arrival[self.rand_idx.ravel()]
        sort = np.argsort(when, kind="stable")
        neurons, slots = np.divmod(sort, self.n_random)
        self._rand_starts = np.searchsorted(when[sort], np.arange(n_excerpts + 1))
        self._rand_pairs = tuple(torch.as_tensor(a, device=dev) for a in (when[sort], neurons, slots))

        self.moments = StreamingMoments(self.n, dev)
        self.calib_max = torch.zeros((self.calibration, self.n), dtype=torch.float32, device=dev)
        self.boundaries: torch.Tensor | None = None
        self.bin_priority = torch.full((self.n, self.n_bins, self.per_bin), _NO_PRIORITY, dtype=torch.int64, device=dev)
        self.bin_idx = torch.full((self.n, self.n_bins, self.per_bin), -1, dtype=torch.int64, device=dev)
        self.bin_acts = torch.zeros((self.n, self.n_bins, self.per_bin, length), dtype=torch.float32, device=dev)
        self._host: dict[str, np.ndarray] | None = None

    def batches(self, batch_size: int) -> list[np.ndarray]:
        """The excerpt indices still to feed, in pass order, cut into batches."""
        rest = self.order[self.processed :]
        return [rest[i : i + batch_size] for i in range(0, len(rest), batch_size)]

    def update(self, excerpts: np.ndarray, acts: torch.Tensor | np.ndarray) -> None:
        """Feed excerpts (the next indices of `self.order`) and their activations (b, T, N), a tensor
        on this accumulator's device (an array is moved there)."""
        b = len(excerpts)
        expected = self.order[self.processed : self.processed + b]
        if not np.array_equal(excerpts, expected):
            raise ValueError("excerpts must be fed in the accumulator's pass order")
        acts = torch.as_tensor(acts, device=self.device).to(torch.float32)
        if tuple(acts.shape) != (b, self.length, self.n):
            raise ValueError(f"activations of shape {tuple(acts.shape)}, expected {(b, self.length, self.n)}")
        self._host = None
        with one_cpu_thread(self.device):
            maxes = acts.amax(dim=1)  # (b, N)
            by_neuron = acts.transpose(1, 2).contiguous()  # (b, N, T): every sample keeps one neuron's T values
            self.moments.update(acts)
            self._update_top(by_neuron, maxes)
            self._update_random(by_neuron)
            self._update_bins(by_neuron, maxes)
        self.processed += b

    def _update_top(self, by_neuron: torch.Tensor, maxes: torch.Tensor) -> None:
        # Keys are unique: highest maximum first, and on ties the excerpt seen first, so batching never matters.
        b = len(maxes)
        position = torch.arange(self.processed, self.processed + b, device=self.device)
        batch_key = _ordered(maxes.T) * _LOW + (_LOW - 1 - position)  # (N, b)
        leaving, row = _replacements(self.top_key, batch_key, largest=True)
        self.top_key = torch.where(leaving, batch_key.gather(1, row), self.top_key)
        self._move_rows(self.top_acts, leaving, row, by_neuron, self._columns[:, None])

    def _update_random(self, by_neuron: torch.Tensor) -> None:
        lo, hi = self._rand_starts[self.processed], self._rand_starts[self.processed + len(by_neuron)]
        if hi > lo:
            when, neurons, slots = (t[lo:hi] for t in self._rand_pairs)
            self.rand_acts[neurons, slots] = by_neuron[when - self.processed, neurons]

    def _update_bins(self, by_neuron: torch.Tensor, maxes: torch.Tensor) -> None:
        start, b = self.processed, len(maxes)
        calibrating = max(0, min(b, self.calibration - start))
        if calibrating:
            self.calib_max[start : start + calibrating] = maxes[:calibrating]
            if start + calibrating == self.calibration:
                # Once per pass, on the host, as numpy's quantiles: the same boundaries on every device.
                quantiles = np.quantile(self.calib_max.cpu().numpy(), QUANTILES, axis=0).T.astype(np.float32)
                self.boundaries = torch.as_tensor(quantiles, device=self.device)  # (N, 5)
        if calibrating == b:
            return
        assert self.boundaries is not None
        rows = slice(calibrating, b)
        m, excerpts = maxes[rows], self._order_dev[start + calibrating : start + b]
        # bin j holds boundaries[j] <= max < boundaries[j+1]; -1 if below the first or above the last.
        bins = (m[:, :, None] >= self.boundaries).sum(dim=2) - 1  # (b', N)
        priority = hash_priority(self.seed, self._neurons_dev, excerpts)  # (b', N)
        # Each (neuron, bin) keeps the smallest priorities among those held and the batch's excerpts in it.
        in_bin = bins.T[:, None, :] == torch.arange(self.n_bins, device=self.device)[None, :, None]  # (N, bins, b')
        offered = torch.where(in_bin, priority.T[:, None, :], _NO_PRIORITY)
        leaving, row = _replacements(self.bin_priority, offered, largest=False)
        entering = offered.gather(2, row)
        leaving &= entering != _NO_PRIORITY  # an empty slot is never filled by an excerpt outside the bin
        self.bin_priority = torch.where(leaving, entering, self.bin_priority)
        self.bin_idx = torch.where(leaving, excerpts[row], self.bin_idx)
        self._move_rows(self.bin_acts, leaving, row, by_neuron[calibrating:], self._columns[:, None, None])

    def _move_rows(self, held: torch.Tensor, leaving: torch.Tensor, row: torch.Tensor, by_neuron: torch.Tensor,
                   column: torch.Tensor) -> None:
        """In place: held[..., s, :] becomes by_neuron[row, column] (T values) wherever slot s is `leaving`."""
        rows = by_neuron.reshape(-1, held.shape[-1])
        source = row * by_neuron.shape[1] + column
        if self.dense_updates:
            # Every slot rewritten: shapes never depend on the data, so the device runs on without the host.
            torch.where(leaving[..., None], rows[source.reshape(-1)].reshape(held.shape), held, out=held)
        else:
            # Only the entrants move (few once a pass is under way); finding them waits for the values,
            # which costs nothing on the CPU.
            where = leaving.nonzero(as_tuple=True)
            held[where] = rows[source[where]]

    def finish(self) -> dict[str, np.ndarray]:
        """The finished pass copied to the host, once (waits for the device to finish its work)."""
        if self._host is None:
            names = ("top_key", "top_acts", "rand_acts", "calib_max", "bin_priority", "bin_idx", "bin_acts")
            self._host = {name: getattr(self, name).cpu().numpy() for name in names}
            if self.boundaries is not None:
                self._host["boundaries"] = self.boundaries.cpu().numpy()
            self._host.update({f"moments_{k}": v for k, v in self.moments.result().items()})
        return self._host

    def summary(self, position: int) -> NeuronSummary:
        """Everything gathered for the neuron at `position` (after the whole pass)."""
        if self.processed < len(self.order):
            raise ValueError(f"pass incomplete: {self.processed} of {len(self.order)} excerpts fed")
        host = self.finish()
        keys = host["top_key"][position]
        slots = np.flatnonzero(keys != _EMPTY_KEY)
        slots = slots[np.argsort(-keys[slots], kind="stable")]  # unique keys: highest maximum first, ties in pass order
        passed = (_LOW - 1) - (keys[slots] & (_LOW - 1))
        def moment(k: str) -> float | None:
            value = host[f"moments_{k}"][position]
            return float(value) if np.isfinite(value) else None

        moments = Moments(mean=moment("mean"), variance=moment("variance"), skewness=moment("skewness"),
                          kurtosis=moment("kurtosis"))
        bins = []
        for j in range(self.n_bins):
            held_idx = host["bin_idx"][position, j]
            held = np.flatnonzero(held_idx >= 0)
            held = held[np.argsort(held_idx[held])]
            bins.append(NeuronSample(held_idx[held].copy(), host["bin_acts"][position, j, held].copy()))
        bounds = host["boundaries"][position].tolist() if "boundaries" in host else []
        return NeuronSummary(
            top=NeuronSample(self.order[passed], host["top_acts"][position, slots].copy()),
            random=NeuronSample(self.rand_idx[position].copy(), host["rand_acts"][position].copy()),
            by_quantile=bins,
            quantile_boundaries=[float(b) for b in bounds],
            moments=moments,
        )

    _STATE = ("top_key", "top_acts", "rand_acts", "calib_max", "bin_priority", "bin_idx", "bin_acts")

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that fully describe the pass so far (for a checkpoint), on the host."""
        out = {name: getattr(self, name).cpu().numpy() for name in self._STATE}
        out.update({"order": self.order, "rand_idx": self.rand_idx, "processed": np.array(self.processed)})
        out.update({f"moments_{k}": v for k, v in self.moments.state().items()})
        if self.boundaries is not None:
            out["boundaries"] = self.boundaries.cpu().numpy()
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if not np.array_equal(state["order"], self.order) or not np.array_equal(state["rand_idx"], self.rand_idx):
            raise ValueError("checkpoint was made with another corpus or seed")
        loaded = {name: torch.as_tensor(np.asarray(state[name]), device=self.device) for name in self._STATE}
        for name, value in loaded.items():
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"checkpoint's {name} has shape {tuple(value.shape)}, expected {tuple(getattr(self, name).shape)}")
        for name, value in loaded.items():
            setattr(self, name, value.to(getattr(self, name).dtype).clone())
        self.moments.load_state({k.removeprefix("moments_"): v for k, v in state.items() if k.startswith("moments_")})
        self.processed = int(state["processed"])
        self.boundaries = torch.as_tensor(np.asarray(state["boundaries"]), device=self.device) if "boundaries" in state else None
        self._host = None


def _replacements(held: torch.Tensor, offered: torch.Tensor, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Which held slots the batch's offers replace, and by which offer: (leaving (..., k), row (..., k)).

    The k best of held (..., k) and offered (..., b) keys are kept; slots whose key stays are left
    where they are, so only the entrants' data moves. The i-th leaving slot of a group takes its
    i-th entering offer (ranks by cumulative counts: no data-dependent shapes).
    """
    k, b = held.shape[-1], offered.shape[-1]
    _, best = torch.cat([held, offered], dim=-1).topk(k, dim=-1, largest=largest)
    kept = torch.zeros((*held.shape[:-1], k + b), dtype=torch.bool, device=held.device).scatter_(-1, best, True)
    leaving, entering = ~kept[..., :k], kept[..., k:]
    rank = torch.where(entering, entering.cumsum(-1) - 1, b)  # offers that do not enter go to a spare column
    by_rank = torch.zeros((*held.shape[:-1], b + 1), dtype=torch.long, device=held.device)
    by_rank.scatter_(-1, rank, torch.arange(b, device=held.device).expand_as(rank))
    return leaving, by_rank.gather(-1, (leaving.cumsum(-1) - 1).clamp(0, b))
