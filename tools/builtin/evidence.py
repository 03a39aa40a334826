"""What the builtin backend knows about a neuron: every token it has seen, where, and how the neuron responded.

Evidence is a flat table of token occurrences from any texts with real activations (train records,
probes, fresh corpus excerpts), each with the weight its text counts for. The weights let the
explainer fit explanations to the mixture the held-out score is measured on (top records and
random excerpts) however many texts of each kind it has seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tools.builtin.context import text_structure
from tools.builtin.vocab import VocabIndex


@dataclass(frozen=True)
class EvidenceText:
    tokens: Sequence[str]
    activations: Sequence[float]
    """Raw neuron values, one per token."""
    weight: float = 1.0
    """How much the text counts when explanations are fitted."""
    kind: str = "record"


@dataclass
class Evidence:
    ids: np.ndarray
    prev: np.ndarray
    """Id of the previous token (-1 at a text's start)."""
    act: np.ndarray
    weight: np.ndarray
    position: np.ndarray
    text: np.ndarray
    """Index of the occurrence's text."""
    line_start: np.ndarray
    sentence_start: np.ndarray
    inside_parens: np.ndarray
    inside_quotes: np.ndarray
    n_texts: int

    @classmethod
    def from_texts(cls, texts: Iterable[EvidenceText], vocab: VocabIndex) -> Evidence:
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "ids", "prev", "act", "weight", "position", "text", "line_start", "sentence_start", "inside_parens", "inside_quotes")}
        n = 0
        for number, item in enumerate(texts):
            n = number + 1
            if not item.tokens:
                continue
            ids = vocab.ids_of(item.tokens)
            structure = text_structure(item.tokens)
            parts["ids"].append(ids)
            parts["prev"].append(np.concatenate([[-1], ids[:-1]]))
            parts["act"].append(np.asarray(item.activations, dtype=np.float64))
            parts["weight"].append(np.full(len(ids), item.weight))
            parts["position"].append(np.arange(len(ids)))
            parts["text"].append(np.full(len(ids), number))
            for key in ("line_start", "sentence_start", "inside_parens", "inside_quotes"):
                parts[key].append(getattr(structure, key))
        empty = {"ids": np.int64, "prev": np.int64, "act": np.float64, "weight": np.float64, "position": np.int64, "text": np.int64}
        arrays = {k: np.concatenate(v) if v else np.zeros(0, dtype=empty.get(k, bool)) for k, v in parts.items()}
        return cls(**arrays, n_texts=n)

    def __len__(self) -> int:
        return len(self.ids)

    def token_stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distinct ids, weighted count, weighted mean activation), over known tokens."""
        known = self.ids >= 0
        ids, inverse = np.unique(self.ids[known], return_inverse=True)
        count = np.bincount(inverse, weights=self.weight[known])
        total = np.bincount(inverse, weights=(self.weight * self.act)[known])
        return ids, count, total / np.maximum(count, 1e-12)

    @property
    def base(self) -> float:
        """The weighted mean activation over all tokens."""
        total = self.weight.sum()
        return float((self.weight * self.act).sum() / total) if total > 0 else 0.0


def weighted_pearson(pred: np.ndarray, act: np.ndarray, weight: np.ndarray) -> float | None:
    """Pearson r with per-token weights; None when either side is constant."""
    total = weight.sum()
    if total <= 0:
        return None
    mp, ma = (weight * pred).sum() / total, (weight * act).sum() / total
    dp, da = pred - mp, act - ma
    vp, va = (weight * dp * dp).sum(), (weight * da * da).sum()
    if vp <= 1e-12 * max(1.0, total) or va <= 1e-12 * max(1.0, total):
        return None
    return float((weight * dp * da).sum() / np.sqrt(vp * va))


def mixture_weights(kinds: Sequence[str], shares: dict[str, float]) -> list[float]:
    """Per-text weights so that each kind of text carries `shares[kind]` of the total, however many there are."""
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    present = {k: s for k, s in shares.items() if counts.get(k)}
    total = sum(present.values()) or 1.0
    return [present.get(k, 0.0) / total / counts[k] * len(kinds) for k in kinds]
