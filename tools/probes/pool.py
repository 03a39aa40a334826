"""A pool of fresh corpus excerpts per layer, read through the subject once for every neuron of a command.

The agent's broadest probe is plain fresh text: excerpts it has never seen, with the neuron's real
activations. One forward to a layer yields every neuron of that layer, so the pool is read for all
the neurons a command refines there at once, when the first of them needs it, and kept in the run
folder (a rerun reuses it). Each neuron then drops the pool's excerpts that belong to its own
records (its held-out split above all) and splits the rest, by a fixed rule, into text it may learn
from (`evidence`) and text that only ever helps choose between explanations (`selection`).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tools.atomic import atomic_write_bytes
from tools.formats.openai import ActivationRecord
from tools.subject.service import ActivationService

BATCH = 32


def pool_rows(n_excerpts: int, size: int, layer: int, seed: int, first_fresh: int = 0) -> np.ndarray:
    """The pool's excerpt indices for a layer: a seeded sample, the same for every neuron; drawn from the excerpts
    at and after `first_fresh` (text no record was built from) when there are enough of them."""
    low = first_fresh if n_excerpts - first_fresh >= size else 0
    rng = np.random.default_rng([seed, layer, 0x9001])
    return np.sort(low + rng.permutation(n_excerpts - low)[: min(size, n_excerpts - low)])


def top_like(activations: np.ndarray, threshold: float) -> np.ndarray:
    """Which texts (rows) reach the neuron's top-record threshold: they would have made its top records."""
    return activations.max(axis=1) >= threshold if len(activations) else np.zeros(0, dtype=bool)


@dataclass(frozen=True)
class NeuronPool:
    """One neuron's share of the pool: positions into the pool, never one of its own records' excerpts."""

    rows: np.ndarray
    """Excerpt index of every pool entry."""
    ids: np.ndarray
    """(pool size, excerpt length) token ids of every entry."""
    activations: np.ndarray
    """(pool size, excerpt length) raw activations of the neuron."""
    evidence: list[int]
    selection: list[int]


def split_for_neuron(rows: np.ndarray, excluded: set[int], selection_size: int) -> tuple[list[int], list[int]]:
    """(evidence, selection) positions: eligible entries alternate between the two until selection is full."""
    eligible = [k for k, row in enumerate(rows.tolist()) if row not in excluded]
    selection = eligible[1::2][:selection_size]
    chosen = set(selection)
    return [k for k in eligible if k not in chosen], selection


def pool_records(pool: NeuronPool, positions: Sequence[int], token_strings: Callable[[list[int]], list[str]],
                 excerpts: np.ndarray | None = None) -> list[ActivationRecord]:
    """Pool entries as activation records (tokens, raw activations, token ids, excerpt index)."""
    out = []
    for k in positions:
        ids = [int(i) for i in pool.ids[k]]
        out.append(ActivationRecord(tokens=token_strings(ids), activations=pool.activations[k].astype(np.float64).tolist(),
                                    token_ids=ids, excerpt_index=int(pool.rows[k])))
    return out


@dataclass(frozen=True)
class SelectionSet:
    """Records candidates are chosen on, with what each counts for and its kind (0 top, 1 random)."""

    records: list[ActivationRecord]
    weights: list[float] | None
    strata: list[int]
    key: str


def enlarged_selection(top: Sequence[ActivationRecord], random: Sequence[ActivationRecord],
                       extra: Sequence[ActivationRecord], extra_top: Sequence[bool], key: str) -> SelectionSet:
    """A split's records plus fresh excerpts, those reaching the top threshold among its top records and the rest
    among its random ones, weighted so each part keeps the weight of the split's own records: more excerpts make
    the choice less noisy without tilting the top-vs-random mixture it is judged on."""
    tops = [*top, *(e for e, t in zip(extra, extra_top, strict=True) if t)]
    randoms = [*random, *(e for e, t in zip(extra, extra_top, strict=True) if not t)]
    weights = [len(top) / len(tops)] * len(tops) + [len(random) / len(randoms) if random else 1.0] * len(randoms)
    return SelectionSet([*tops, *randoms], weights, [0] * len(tops) + [1] * len(randoms), key)


def _save(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


@dataclass
class CorpusPool:
    root: Path
    service: ActivationService
    excerpts: np.ndarray
    """The whole corpus, as token ids (excerpts, length)."""
    size: int
    seed: int
    first_fresh: int = 0
    """Excerpts from here on hold no record (the records use a prefix of the corpus): the pool prefers them."""
    neurons_by_layer: dict[int, set[int]] = field(default_factory=dict)
    """Neurons a command will refine, per layer: read together in one pass."""
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    @classmethod
    def for_neurons(cls, root: Path, service: ActivationService, excerpts: np.ndarray, size: int, seed: int,
                    neurons: Iterable[tuple[int, int]], first_fresh: int = 0) -> CorpusPool:
        by_layer: dict[int, set[int]] = {}
        for layer, neuron in neurons:
            by_layer.setdefault(layer, set()).add(neuron)
        return cls(root, service, excerpts, size, seed, first_fresh, by_layer)

    def _dir(self, layer: int) -> Path:
        return self.root / str(layer)

    async def _read_layer(self, layer: int, neurons: Sequence[int]) -> None:
        rows = pool_rows(len(self.excerpts), self.size, layer, self.seed, self.first_fresh)
        folder = self._dir(layer)
        rows_path = folder / "rows.npy"
        if rows_path.is_file() and not np.array_equal(np.load(rows_path), rows):
            raise ValueError(f"{rows_path} holds another pool (other corpus, size or seed); use another run")
        sequences = [self.excerpts[int(r)].tolist() for r in rows]
        values = np.zeros((len(rows), self.excerpts.shape[1], len(neurons)), dtype=np.float32)
        for start in range(0, len(sequences), BATCH):
            batch = await self.service.activations(sequences[start : start + BATCH], layer, neurons)
            for offset, array in enumerate(batch):
                values[start + offset] = array
        _save(rows_path, rows)
        for column, neuron in enumerate(neurons):
            _save(folder / f"{neuron}.npy", values[:, :, column])

    async def neuron(self, layer: int, neuron: int, excluded: set[int], selection_size: int) -> NeuronPool:
        path = self._dir(layer) / f"{neuron}.npy"
        lock = self._locks.setdefault(layer, asyncio.Lock())
        async with lock:
            if not path.is_file():
                wanted = sorted(self.neurons_by_layer.get(layer, set()) | {neuron})
                missing = [n for n in wanted if not (self._dir(layer) / f"{n}.npy").is_file()]
                await self._read_layer(layer, missing)
        rows = np.load(self._dir(layer) / "rows.npy")
        evidence, selection = split_for_neuron(rows, excluded, selection_size)
        ids = np.asarray(self.excerpts[rows])
        return NeuronPool(rows, ids, np.load(path), evidence, selection)
