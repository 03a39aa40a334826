"""One forward per layer over the whole corpus sample, for the sampled neurons, kept on disk.

bench/real needs every sampled neuron's activation on every excerpt for its token-lookup baselines.
The records builder and the agent's corpus pool read the same excerpts, so `CachedSubject` serves
them from this pass instead of running the model again; anything else (probe texts, sampling)
goes to the real subject.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tools.atomic import atomic_write_bytes
from tools.subject.base import SubjectInfo, SubjectModel, TokenizedText

BATCH = 32


def layer_activations(subject: SubjectModel, excerpts: np.ndarray, layer: int, neurons: Sequence[int], path: Path,
                      progress: bool = True) -> np.ndarray:
    """(excerpts, length, neurons) activations, from `path` when an earlier run wrote it for these neurons
    (or more: a subset of a sample reads its columns)."""
    if path.is_file():
        saved = np.load(path)
        columns = {int(n): i for i, n in enumerate(saved["neurons"].tolist())}
        if all(n in columns for n in neurons) and saved["acts"].shape[0] == len(excerpts):
            return np.asarray(saved["acts"][:, :, [columns[n] for n in neurons]])
    out = np.zeros((len(excerpts), excerpts.shape[1], len(neurons)), dtype=np.float32)
    for start in range(0, len(excerpts), BATCH):
        batch = [row.tolist() for row in excerpts[start : start + BATCH]]
        for offset, values in enumerate(subject.activations(batch, layer, list(neurons))):
            out[start + offset] = values
        if progress and (start // BATCH) % 20 == 0:
            print(f"  layer {layer}: {start + len(batch):,}/{len(excerpts):,} excerpts", flush=True)
    buffer = io.BytesIO()
    np.savez(buffer, acts=out, neurons=np.asarray(neurons))
    atomic_write_bytes(path, buffer.getvalue())
    return out


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
