"""One forward over the whole corpus sample for every sampled layer and neuron, kept on disk.

bench/real needs every sampled neuron's activation on every excerpt for its token-lookup baselines.
The records builder and the agent's corpus pool read the same excerpts, so `CachedSubject` serves
them from this pass instead of running the model again; anything else (probe texts, sampling)
goes to the real subject.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from tools.atomic import atomic_write_bytes
from tools.subject.base import SubjectInfo, SubjectModel, TokenizedText

BATCH = 32


class MultiLayerSubject(Protocol):
    def activations_at_layers(self, ids: np.ndarray, wanted: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]: ...


def _saved(path: Path, neurons: Sequence[int], n_excerpts: int) -> np.ndarray | None:
    """The columns of `neurons` from an earlier run's file (which may hold more neurons), if it covers them."""
    if not path.is_file():
        return None
    saved = np.load(path)
    columns = {int(n): i for i, n in enumerate(saved["neurons"].tolist())}
    if all(n in columns for n in neurons) and saved["acts"].shape[0] == n_excerpts:
        return np.asarray(saved["acts"][:, :, [columns[n] for n in neurons]])
    return None


def corpus_activations(subject: MultiLayerSubject, excerpts: np.ndarray, wanted: Mapping[int, Sequence[int]],
                       paths: Mapping[int, Path], progress: bool = True) -> dict[int, np.ndarray]:
    """{layer: (excerpts, length, neurons) activations}, read from `paths[layer]` where an earlier run wrote
    them, the other layers from one forward pass over the corpus (up to the deepest of them)."""
    saved = {layer: _saved(paths[layer], neurons, len(excerpts)) for layer, neurons in wanted.items()}
    out = {layer: acts for layer, acts in saved.items() if acts is not None}
    missing = {layer: list(neurons) for layer, neurons in wanted.items() if layer not in out}
    if not missing:
        return out
    fresh = {layer: np.zeros((len(excerpts), excerpts.shape[1], len(neurons)), dtype=np.float32) for layer, neurons in missing.items()}
    for start in range(0, len(excerpts), BATCH):
        batch = excerpts[start : start + BATCH]
        for layer, values in subject.activations_at_layers(batch, missing).items():
            fresh[layer][start : start + len(batch)] = values
        if progress and (start // BATCH) % 20 == 0:
            print(f"  layers {','.join(map(str, sorted(missing)))}: {start + len(batch):,}/{len(excerpts):,} excerpts", flush=True)
    for layer, acts in fresh.items():
        buffer = io.BytesIO()
        np.savez(buffer, acts=acts, neurons=np.asarray(missing[layer]))
        atomic_write_bytes(paths[layer], buffer.getvalue())
    return out | fresh


class CachedSubject:
    """A subject whose corpus excerpts' activations (for some layers and neurons) come from a finished pass."""

    def __init__(self, subject: SubjectModel, excerpts: np.ndarray) -> None:
        self.subject = subject
        self._rows = {tuple(int(t) for t in row): i for i, row in enumerate(excerpts)}
        self._layers: dict[int, tuple[dict[int, int], np.ndarray]] = {}
        self.served = 0
        self.forwarded = 0

    def add_layer(self, layer: int, neurons: Sequence[int], acts: np.ndarray) -> None:
        self._layers[layer] = ({n: i for i, n in enumerate(neurons)}, acts)

    @property
    def info(self) -> SubjectInfo:
        return self.subject.info

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return self.subject.tokenize(texts)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return self.subject.token_strings(ids)

    def activations_tensor(self, ids: np.ndarray, layer: int, neurons: Sequence[int] | None = None) -> torch.Tensor:
        """The records pass's entry (equal-length batches): served from the pass like `activations`."""
        return torch.from_numpy(np.stack(self.activations(ids.tolist(), layer, neurons)))

    def batch_size(self, seq_len: int, kept_neurons: int) -> int:
        return BATCH

    def __getattr__(self, name: str) -> object:
        # Whatever else the subject offers (sampling, token embeddings) is the subject's own.
        return getattr(self.subject, name)

    def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None) -> list[np.ndarray]:
        cached = self._layers.get(layer)
        if cached is not None and neurons is not None and all(n in cached[0] for n in neurons):
            rows = [self._rows.get(tuple(int(t) for t in s)) for s in sequences]
            if all(r is not None for r in rows):
                columns = [cached[0][n] for n in neurons]
                self.served += len(sequences)
                return [cached[1][r][:, columns] for r in rows if r is not None]
        self.forwarded += len(sequences)
        return self.subject.activations(sequences, layer, neurons)
