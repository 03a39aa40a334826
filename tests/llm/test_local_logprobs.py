"""The local server's logprob arithmetic: pure functions, checked against the obvious slow computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tools.llm.local_logprobs import (
    common_prefix,
    row_logprobs,
    sample_token,
    text_offsets,
    token_texts,
    tokens_at_offsets,
)


def test_row_logprobs_matches_a_full_sort_and_log_softmax() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=5000).astype(np.float32) * 4
    found = row_logprobs(logits, 15)
    full = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum())
    order = np.argsort(-full, kind="stable")[:15]
    assert [t for t, _ in found.top] == order.tolist()
    assert [lp for _, lp in found.top] == pytest.approx(full[order].tolist(), abs=1e-9)
    assert found.log_norm == pytest.approx(math.log(np.exp(logits.astype(np.float64)).sum()))


def test_row_logprobs_survives_huge_logits_and_small_vocabularies() -> None:
    found = row_logprobs(np.array([1000.0, 999.0, -1000.0], dtype=np.float32), 20)
    assert [t for t, _ in found.top] == [0, 1, 2]
    assert sum(math.exp(lp) for _, lp in found.top) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        row_logprobs(np.zeros(3, dtype=np.float32), 0)


def test_token_texts_give_a_split_character_to_the_token_that_completes_it() -> None:
    euro = "€".encode()  # three bytes
    texts = token_texts([b"a ", euro[:1], euro[1:], b"b"])
    assert texts == ["a ", "", "€", "b"]
    assert "".join(texts) == "a €b"
    assert text_offsets(texts) == [0, 2, 2, 3]


def test_token_texts_replace_invalid_bytes_once() -> None:
    texts = token_texts([b"x", b"\xff", b"y"])
    assert "".join(texts) == "x\ufffdy"
    assert token_texts([b"ok", b"\xe2\x82"]) == ["ok", "\ufffd"]  # a cut character at the end


def test_tokens_at_offsets_aligns_from_the_end() -> None:
    prompt = "ab\tunknown\ncd\tunknown\n"
    texts = ["", "ab", "\t", "unknown", "\n", "cd", "\t", "unknown", "\n"]  # a BOS text in front
    assert tokens_at_offsets(prompt, texts, [3, 14]) == {3, 7}
    spaced = [" ab", "\t", "unknown", "\n", "cd", "\t", "unknown", "\n"]  # a dummy leading space
    assert tokens_at_offsets(prompt, spaced, [3, 14]) == {2, 6}
    assert tokens_at_offsets(prompt, texts, [4]) == set()  # inside a token: nothing to score


def test_sample_token_is_greedy_at_zero_and_seeded_above() -> None:
    logits = np.array([0.0, 3.0, 1.0], dtype=np.float32)
    assert sample_token(logits, 0.0, np.random.default_rng(1)) == 1
    draws = [sample_token(logits, 1.0, np.random.default_rng(seed)) for seed in range(200)]
    assert draws == [sample_token(logits, 1.0, np.random.default_rng(seed)) for seed in range(200)]
    assert set(draws) == {0, 1, 2}
    assert draws.count(1) > draws.count(2) > draws.count(0)


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0
