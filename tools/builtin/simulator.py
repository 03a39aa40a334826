"""The builtin simulator: per-token predictions (0-10) from any explanation text, in microseconds.

An explanation compiles (cached) into one strength per vocabulary entry for each clause, plus the
clause's context conditions. A quoted word matches its tokens exactly (case and leading space
matter to a neuron: loose matching of quoted words scores worse on held-out records); a word that
is no single token matches where its pieces occur in sequence.
Families, pieces, classes and suffixes match their vocabulary masks; `words like` examples also
lend a graded share to tokens whose input embeddings are close to an example. A free word of prose
(LLM-written explanations) matches case/space-insensitively at 0.7 of its weight and through
embedding similarity. A token's prediction is the strongest clause that applies to it where it
stands; position terms add by maximum.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.builtin.context import TextStructure, text_structure
from tools.builtin.grammar import Clause, Condition, Explanation, Item, Position, parse
from tools.builtin.vocab import LIKE_FLOOR, LIKE_FULL, VocabIndex
from tools.simulators.base import LEXICAL_METHOD, RecordSimulation

METHOD = LEXICAL_METHOD
LOOSE_MATCH = 0.7
SIMILARITY_FLOOR = 0.35
SIMILARITY_SCALE = 0.5
SOFT_GATE = 0.25


@dataclass(frozen=True)
class CompiledCondition:
    kind: str
    previous: np.ndarray | None
    """Mask over vocabulary ids of the previous token, for `after`-style conditions."""


@dataclass(frozen=True)
class CompiledClause:
    strengths: np.ndarray
    """0-10 per vocabulary id."""
    sequences: tuple[tuple[tuple[int, ...], float], ...]
    """Words that are no single token: their pieces in order, and the strength."""
    conditions: tuple[CompiledCondition, ...]


@dataclass(frozen=True)
class Compiled:
    clauses: tuple[CompiledClause, ...]
    conditions: tuple[CompiledCondition, ...]
    positions: tuple[Position, ...]


class BuiltinSimulator:
    def __init__(self, vocab: VocabIndex, cache_size: int = 512) -> None:
        self.vocab = vocab
        self._cache: OrderedDict[str, Compiled] = OrderedDict()
        self._cache_size = cache_size

    @property
    def method(self) -> str:
        return METHOD

    def _item(self, item: Item, weight: float, scores: np.ndarray, sequences: list[tuple[tuple[int, ...], float]]) -> None:
        vocab = self.vocab
        if item.kind == "word":
            for value, own in zip(item.values, item.weights or (None,) * len(item.values), strict=True):
                w = weight if own is None else own
                ids = vocab.word_ids(value)
                if ids:
                    scores[ids] = np.maximum(scores[ids], w)
                elif len(split := vocab.split_word(value)) > 1:
                    sequences.append((tuple(split), w))
                else:
                    loose = vocab.loose_ids(value)
                    scores[loose] = np.maximum(scores[loose], LOOSE_MATCH * w)
        elif item.kind == "like":
            examples = [i for v in item.values for i in vocab.word_ids(v) or vocab.loose_ids(v)]
            similar = vocab.closeness(examples, LIKE_FLOOR, LIKE_FULL)
            if similar is not None:
                np.maximum(scores, weight * similar, out=scores)
            scores[examples] = np.maximum(scores[examples], weight)
        elif item.kind == "free":
            for value in item.values:
                exact, loose = vocab.word_ids(value), [i for i in vocab.loose_ids(value) if i not in vocab.word_ids(value)]
                similar = vocab.closeness(exact or loose, SIMILARITY_FLOOR)
                if similar is not None:
                    np.maximum(scores, SIMILARITY_SCALE * weight * similar, out=scores)
                scores[loose] = np.maximum(scores[loose], LOOSE_MATCH * weight)
                scores[exact] = np.maximum(scores[exact], weight)
        else:
            for value in item.values:
                if item.kind == "family":
                    mask = vocab.containing(value)
                elif item.kind == "piece":
                    mask = np.zeros(vocab.size, dtype=bool)
                    mask[vocab.loose_ids(value)] = True
                elif item.kind == "suffix":
                    mask = vocab.ending_with(value)
                else:
                    mask = vocab.classes.get(value, np.zeros(vocab.size, dtype=bool))
                scores[mask] = np.maximum(scores[mask], weight)

    def _condition(self, condition: Condition) -> CompiledCondition:
        if condition.kind in ("after", "unless_after", "mostly_after", "after_class"):
            mask = np.zeros(self.vocab.size, dtype=bool)
            for value in condition.values:
                if condition.kind == "after_class" or value.startswith("class:"):
                    mask |= self.vocab.classes.get(value.removeprefix("class:"), np.zeros(self.vocab.size, dtype=bool))
                else:
                    # A context word is meant as a person means it: any case, with or without its space.
                    mask[self.vocab.word_ids(value) + self.vocab.loose_ids(value)] = True
            return CompiledCondition("after" if condition.kind == "after_class" else condition.kind, mask)
        return CompiledCondition(condition.kind, None)

    def _clause(self, clause: Clause) -> CompiledClause:
        scores = np.zeros(self.vocab.size, dtype=np.float32)
        sequences: list[tuple[tuple[int, ...], float]] = []
        for item in clause.items:
            self._item(item, clause.weight, scores, sequences)
        return CompiledClause(scores, tuple(sequences), tuple(self._condition(c) for c in clause.conditions))

    def compile(self, explanation: str) -> Compiled:
        hit = self._cache.get(explanation)
        if hit is not None:
            self._cache.move_to_end(explanation)
            return hit
        structure: Explanation = parse(explanation)
        compiled = Compiled(
            tuple(self._clause(c) for c in structure.clauses),
            tuple(self._condition(c) for c in structure.conditions),
            tuple(structure.positions),
        )
        self._cache[explanation] = compiled
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return compiled

    def predict(self, explanation: str, tokens: Sequence[str]) -> np.ndarray:
        compiled = self.compile(explanation)
        ids = self.vocab.ids_of(tokens)
        known = ids >= 0
        safe = np.where(known, ids, 0)
        prev = np.concatenate([[-1], ids[:-1]]) if len(ids) else ids
        structure: TextStructure | None = None
        if any(c.previous is None for clause in compiled.clauses for c in clause.conditions) or any(
                c.previous is None for c in compiled.conditions):
            structure = text_structure(tokens)
        values: np.ndarray = np.zeros(len(ids), dtype=np.float64)
        for clause in compiled.clauses:
            clause_values = np.where(known, clause.strengths[safe], 0.0).astype(np.float64)
            for pieces, strength in clause.sequences:
                clause_values = np.maximum(clause_values, _sequence_hits(ids, pieces) * strength)
            values = np.maximum(values, clause_values * _gate(clause.conditions, prev, structure, len(ids)))
        values = values * _gate(compiled.conditions, prev, structure, len(ids))
        index = np.arange(len(ids))
        for pos in compiled.positions:
            term = np.where(index < pos.n, pos.weight, 0.0) if pos.mode == "first" else pos.weight * np.minimum(1.0, index / pos.n)
            values = np.maximum(values, term)
        return values

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        return [self.simulate_one(explanation, tokens) for tokens in records]

    def simulate_one(self, explanation: str, tokens: Sequence[str]) -> RecordSimulation:
        values = self.predict(explanation, tokens)
        return RecordSimulation(method=METHOD, tokens=list(tokens), expected=values.tolist())


def _sequence_hits(ids: np.ndarray, pieces: tuple[int, ...]) -> np.ndarray:
    """1 at every position covered by an occurrence of `pieces` in order."""
    hits = np.zeros(len(ids))
    k = len(pieces)
    if k == 0 or len(ids) < k:
        return hits
    starts = np.ones(len(ids) - k + 1, dtype=bool)
    for offset, piece in enumerate(pieces):
        starts &= ids[offset : len(ids) - k + 1 + offset] == piece
    for start in np.flatnonzero(starts):
        hits[start : start + k] = 1.0
    return hits


def _gate(conditions: Sequence[CompiledCondition], prev: np.ndarray, structure: TextStructure | None, n: int) -> np.ndarray:
    """Per position, how much of a clause applies (1, 0, or SOFT_GATE for a `mostly` condition not met)."""
    gate = np.ones(n)
    for condition in conditions:
        if condition.previous is not None:
            met = np.where(prev >= 0, condition.previous[np.where(prev >= 0, prev, 0)], False)
        else:
            assert structure is not None
            met = {"line_start": structure.line_start, "sentence_start": structure.sentence_start,
                   "inside_parens": structure.inside_parens, "inside_quotes": structure.inside_quotes}[condition.kind]
        if condition.kind == "unless_after":
            gate = np.where(met, 0.0, gate)
        elif condition.kind == "mostly_after":
            gate = np.where(met, gate, gate * SOFT_GATE)
        else:
            gate = np.where(met, gate, 0.0)
    return gate
