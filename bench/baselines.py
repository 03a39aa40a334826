"""Token-lookup baselines for real neurons, measured on the very held-out records the agent is scored on.

A lookup predicts each token's activation from a table of token means; it is not an explanation a
person reads, but it says how much plain token identity explains:
- `train_8`: the 8 tokens with the highest mean activation in the neuron's train records;
- `corpus_8`, `corpus_25`: the 8 or 25 tokens with the highest mean activation over the corpus
  excerpts outside the held-out records (tokens seen at least 5 times), each predicted at its mean;
- `ceiling`: every token's corpus mean (held-out excerpts excluded): the token-identity ceiling.
Tokens a table does not name are predicted at 0 (the lists) or at the corpus mean (the ceiling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tools.formats.openai import ActivationRecord
from tools.science.scoring import aggregate_correlation

MIN_SEEN = 5


def corpus_means(ids: np.ndarray, acts: np.ndarray, excluded: Sequence[int], vocab_size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(count per token id, mean activation per token id, overall mean) over every excerpt not `excluded`."""
    keep = np.ones(len(ids), dtype=bool)
    keep[list(excluded)] = False
    flat_ids, flat_acts = ids[keep].ravel(), acts[keep].ravel().astype(np.float64)
    counts = np.bincount(flat_ids, minlength=vocab_size)
    sums = np.bincount(flat_ids, weights=flat_acts, minlength=vocab_size)
    base = float(flat_acts.mean()) if flat_acts.size else 0.0
    return counts, np.where(counts > 0, sums / np.maximum(counts, 1), base), base


def _score(table: np.ndarray, records: Sequence[ActivationRecord]) -> float | None:
    pairs = [(r.activations, table[np.asarray(r.token_ids)].tolist()) for r in records]
    return aggregate_correlation(pairs).value


def best_tokens(counts: np.ndarray, means: np.ndarray, k: int, min_seen: int = MIN_SEEN) -> np.ndarray:
    seen = np.flatnonzero(counts >= min_seen)
    return seen[np.argsort(-means[seen], kind="stable")[:k]]


def lookup_table(tokens: np.ndarray, means: np.ndarray, size: int, fill: float = 0.0) -> np.ndarray:
    table = np.full(size, fill)
    table[tokens] = means[tokens]
    return table


def lookup_baselines(heldout: Sequence[ActivationRecord], train: Sequence[ActivationRecord], corpus_ids: np.ndarray,
                     corpus_acts: np.ndarray, vocab_size: int) -> dict[str, float | None]:
    excluded = [r.excerpt_index for r in heldout if r.excerpt_index is not None]
    counts, means, base = corpus_means(corpus_ids, corpus_acts, excluded, vocab_size)
    train_counts = np.zeros(vocab_size)
    train_sums = np.zeros(vocab_size)
    for r in train:
        np.add.at(train_counts, np.asarray(r.token_ids), 1)
        np.add.at(train_sums, np.asarray(r.token_ids), np.asarray(r.activations))
    train_means = np.where(train_counts > 0, train_sums / np.maximum(train_counts, 1), -np.inf)
    train_top = best_tokens(train_counts, train_means, 8, min_seen=1)
    return {
        "train_8": _score(lookup_table(train_top, train_means, vocab_size), heldout),
        "corpus_8": _score(lookup_table(best_tokens(counts, means, 8), means, vocab_size), heldout),
        "corpus_25": _score(lookup_table(best_tokens(counts, means, 25), means, vocab_size), heldout),
        "ceiling": _score(means, heldout),
        "corpus_base": base,
    }
