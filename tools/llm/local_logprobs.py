"""Pure functions behind the local server's logprobs: logits rows to top-k, token texts, sampling.

The local server reads logits straight from llama.cpp instead of going through llama-cpp-python's
echo path, which sorts the whole vocabulary and detokenizes the whole prefix again for every prompt
token. Here a row costs one log-sum-exp and one partial selection (`np.argpartition`), and each
token's text is decoded once.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RowLogprobs:
    """What one logits row says about the next token: its log-normaliser and its top candidates."""

    log_norm: float
    """log(sum(exp(logits))): a token's logprob is its logit minus this."""
    top: list[tuple[int, float]]
    """(token id, natural-log probability), most likely first."""


def row_logprobs(logits: Logits, k: int) -> RowLogprobs:
    """The top `k` tokens of one logits row by partial selection, with their logprobs."""
    if k < 1:
        raise ValueError("k must be at least 1")
    row = logits.astype(np.float64, copy=False)
    peak = float(row.max())
    log_norm = peak + float(np.log(np.exp(row - peak).sum()))
    k = min(k, row.shape[0])
    # argpartition is O(vocabulary); only the k winners are sorted.
    chosen = np.argpartition(row, -k)[-k:]
    chosen = chosen[np.argsort(-row[chosen], kind="stable")]
    return RowLogprobs(log_norm, [(int(t), float(row[t]) - log_norm) for t in chosen])


def token_texts(pieces: Iterable[bytes]) -> list[str]:
    """Each token's text, decoded once and in order, so that the texts concatenate to the decoded whole.

    A character split over several byte-level tokens belongs to the token that completes it; the
    tokens before it get "" (OpenAI's servers do the same). Invalid bytes become U+FFFD.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    texts = [decoder.decode(piece) for piece in pieces]
    tail = decoder.decode(b"", final=True)
    if tail and texts:
        texts[-1] += tail
    return texts


def text_offsets(texts: Sequence[str]) -> list[int]:
    """Character offset where each token's text starts in their concatenation."""
    offsets, position = [], 0
    for text in texts:
        offsets.append(position)
        position += len(text)
    return offsets


def tokens_at_offsets(prompt: str, texts: Sequence[str], offsets: Iterable[int]) -> set[int]:
    """Indices of the tokens that start at the given character offsets of `prompt`.

    The token texts may spell the prompt with something in front (a BOS text, a tokenizer's dummy
    leading space), so offsets are matched from the end; an offset where no token starts is skipped:
    the client then finds no logprob there and says so.
    """
    shift = sum(len(t) for t in texts) - len(prompt)
    starts: dict[int, int] = {}
    for index, start in enumerate(text_offsets(texts)):
        if texts[index]:
            starts.setdefault(start, index)
    return {starts[o + shift] for o in offsets if o + shift in starts}


def sample_token(logits: Logits, temperature: float, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else a draw from softmax(logits / temperature)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max()
    probs = np.exp(scaled)
    probs /= probs.sum()
    return int(rng.choice(probs.shape[0], p=probs))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
