"""Fitting explanations to evidence: planted rules come back as short clauses within the word cap."""

from __future__ import annotations

import numpy as np
import pytest

from tools.builtin.compose import Composer, candidate_explanations
from tools.builtin.evidence import Evidence, EvidenceText
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.explainers.base import word_count

WORDS = [" the", " a", " cat", " dog", " sat", " on", " mat", " more", " less", " than", " rather", " red", " blue",
         " green", " table", " chair", ".", ",", " 3", " 7", " and", " of", " in", " big", " small", " purple", " orange",
         " yellow", " pink"]
COLOURS = (" red", " blue", " green", " purple", " orange", " yellow", " pink")
PAIRS = ((" more", " than"), (" less", " than"), (" rather", " than"), (" big", " than"))


def texts(rule: object, n: int = 60, length: int = 24, seed: int = 0) -> list[EvidenceText]:
    """Random texts, each with two word pairs of PAIRS in it, so contexts are seen often enough to be learned."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        tokens = [WORDS[i] for i in rng.integers(0, len(WORDS), length)]
        for at in (4, 14):
            tokens[at : at + 2] = PAIRS[int(rng.integers(len(PAIRS)))]
        out.append(EvidenceText(tokens, [float(v) for v in rule(tokens)]))  # type: ignore[operator]
    return out


def fitted(rule: object, max_words: int = 30, embeddings: np.ndarray | None = None) -> tuple[list[str], BuiltinSimulator]:
    vocab = VocabIndex(WORDS, embeddings)
    evidence = Evidence.from_texts(texts(rule), vocab)
    return [f.text for f in candidate_explanations(evidence, vocab, 4, max_words)], BuiltinSimulator(vocab)


def score(simulator: BuiltinSimulator, text: str, rule: object) -> float:
    fresh = texts(rule, n=40, seed=1)
    pred = np.concatenate([simulator.predict(text, t.tokens) for t in fresh])
    real = np.concatenate([t.activations for t in fresh])
    return float(np.corrcoef(pred, real)[0, 1])


def test_a_token_set_comes_back_as_a_word_list() -> None:
    def rule(tokens: list[str]) -> list[float]:
        return [1.0 if t in (" cat", " dog") else 0.0 for t in tokens]

    found, simulator = fitted(rule)
    assert found[0].startswith(('"cat", "dog"', '"dog", "cat"')), found[0]
    assert score(simulator, found[0], rule) > 0.99


def test_a_context_rule_comes_back_as_a_gated_word() -> None:
    def rule(tokens: list[str]) -> list[float]:
        return [1.0 if t == " than" and i and tokens[i - 1] in (" more", " less") else 0.0 for i, t in enumerate(tokens)]

    found, simulator = fitted(rule)
    assert '"than" after' in found[0], found[0]
    assert score(simulator, found[0], rule) > 0.9


def test_a_class_and_a_position_are_found() -> None:
    numbers, simulator = fitted(lambda tokens: [1.0 if t.strip().isdigit() else 0.0 for t in tokens])
    assert numbers[0] == "numbers (10)"
    start, _ = fitted(lambda tokens: [1.0 if i < 3 else 0.0 for i in range(len(tokens))])
    assert start[0] == "the first 3 tokens of the text (10)"


def test_similar_words_are_said_once_through_their_likeness() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(WORDS), 32))
    colour = rng.normal(size=32) * 3
    for w in COLOURS:
        embeddings[WORDS.index(w)] = colour + 0.2 * rng.normal(size=32)

    def rule(tokens: list[str]) -> list[float]:
        return [1.0 if t in COLOURS else 0.0 for t in tokens]

    found, simulator = fitted(rule, embeddings=embeddings)
    assert any("words like" in f for f in found), found
    best = max(found, key=lambda f: score(simulator, f, rule))
    assert score(simulator, best, rule) > 0.95


@pytest.mark.parametrize("cap", [4, 8, 15, 30])
def test_every_candidate_keeps_within_the_word_cap(cap: int) -> None:
    # A rule of many unrelated tokens, so a fit would gladly use every word it is allowed.
    weights = {w: (i % 7) / 6 for i, w in enumerate(WORDS)}
    found, _ = fitted(lambda tokens: [weights[t] for t in tokens], max_words=cap)
    assert found and all(word_count(f) <= cap for f in found), found


def test_replicated_fits_ignore_a_quirk_of_one_text() -> None:
    evidence_texts = texts(lambda tokens: [1.0 if t == " cat" else 0.0 for t in tokens])
    # One text where an unrelated word also fires: a lenient fit may take it, a replicated one must not.
    odd = evidence_texts[0]
    evidence_texts[0] = EvidenceText(odd.tokens, [1.0 if t in (" cat", " chair") else 0.0 for t in odd.tokens])
    vocab = VocabIndex(WORDS, None)
    composer = Composer(Evidence.from_texts(evidence_texts, vocab), vocab)
    replicated = composer.fit(30, replicate=True)
    assert replicated is not None and '"chair"' not in replicated.text and '"cat"' in replicated.text
