"""Probe generators that need no LLM: they work on the subject, its corpus and the explanation's tokens.

(a) builtin-*: the explanation's tokens inserted into fresh corpus contexts (should fire), a similar
    token that the explanation does not name inserted instead (near miss), and fresh excerpts that
    contain a named token with it deleted (should not fire);
(b) edit-*: top train records with their peak token removed, or swapped for another token;
(c) corpus-fresh: excerpts never shown to the agent (never held-out ones), half of them chosen
    because they contain a named token;
(d) subject-continuation: the subject's own continuations of top-record prefixes that end on the
    peak token (prefixes here; the sampling runs through the subject service);
Every generator is seeded; none ever reads an excluded (held-out or already used) excerpt. The
builtin reviser draws its own gate probes from the same sources (`tools.builtin.gates.gate_probes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tools.builtin.grammar import parse
from tools.builtin.vocab import VocabIndex
from tools.formats.openai import ActivationRecord
from tools.probes.types import Generator, ProbeText
from tools.subject.base import SubjectModel

PROBE_TOKENS = 40
NAMED_LIMIT = 16


@dataclass(frozen=True)
class ProbeMaterial:
    """What the generators that need no LLM draw from, for every round of a neuron: the subject, the
    corpus, and the vocabulary tables that find the tokens an explanation names (without them, the
    generators that need named tokens write nothing)."""

    subject: SubjectModel
    excerpts: np.ndarray
    vocab: VocabIndex | None = None

    def sources(self, excluded: set[int], rng: np.random.Generator) -> ProbeSources:
        """One round's sources: never `excluded`, drawn with `rng`."""
        return ProbeSources(subject=self.subject, excerpts=self.excerpts, excluded=excluded, rng=rng, vocab=self.vocab)


@dataclass
class ProbeSources:
    subject: SubjectModel
    excerpts: np.ndarray
    """The corpus as (n_excerpts, length) token ids."""
    excluded: set[int]
    """Excerpt indices never to use: the held-out split's, and those already seen or probed."""
    rng: np.random.Generator
    vocab: VocabIndex | None = None
    used: set[int] = field(default_factory=set)
    """Excerpts drawn by this round (add them to `excluded` of the next)."""

    def probe(self, generator: Generator, ids: Sequence[int], source: str) -> ProbeText:
        ids = [int(i) for i in ids]
        tokens = self.subject.token_strings(ids)
        return ProbeText(generator=generator, text="".join(tokens), token_ids=ids, tokens=tokens, source=source)

    def fresh_rows(self, count: int, must_contain: Sequence[int] = ()) -> list[int]:
        """Up to `count` excerpt indices not excluded or used; with `must_contain`, rows holding one of those ids."""
        n = len(self.excerpts)
        blocked = self.excluded | self.used
        if must_contain:
            hits = np.flatnonzero(np.isin(self.excerpts, np.asarray(must_contain)).any(axis=1))
            candidates = [int(i) for i in hits if int(i) not in blocked]
            self.rng.shuffle(candidates)
            chosen = candidates[:count]
        else:
            chosen = []
            for i in self.rng.permutation(n):
                if len(chosen) == count:
                    break
                if int(i) not in blocked:
                    chosen.append(int(i))
        self.used.update(chosen)
        return chosen


def named_token_ids(explanation: str, vocab: VocabIndex | None) -> list[int]:
    """Token ids the explanation names, strongest clause first: quoted words exactly, pieces and free words in any case."""
    if vocab is None:
        return []
    ids: list[int] = []
    for clause in sorted(parse(explanation).clauses, key=lambda c: -c.weight):
        for item in clause.items:
            for value in item.values if item.kind in ("word", "like", "piece", "free") else ():
                exact = vocab.word_ids(value) if item.kind in ("word", "like") else []
                matches = exact or (vocab.loose_ids(value)[:2] + vocab.loose_ids(" " + value)[:2])
                ids.extend(i for i in matches if i not in ids)
    return ids[:NAMED_LIMIT]


def _similar_unnamed(vocab: VocabIndex, token: int, named: Sequence[int]) -> int | None:
    if vocab.embeddings is None:
        return None
    sims = vocab.embeddings @ vocab.embeddings[token]
    for candidate in np.argsort(-sims)[1:50]:
        if int(candidate) not in named and vocab.pieces[int(candidate)].strip():
            return int(candidate)
    return None


def builtin_targeted(explanation: str, src: ProbeSources, k: int) -> list[ProbeText]:
    named = named_token_ids(explanation, src.vocab)
    if not named:
        return []
    out: list[ProbeText] = []
    for row in src.fresh_rows(k):
        context = src.excerpts[row][:PROBE_TOKENS].tolist()
        trigger = named[int(src.rng.integers(len(named)))]
        at = int(src.rng.integers(4, max(5, len(context) - 4)))
        out.append(src.probe("builtin-insert", context[:at] + [trigger] + context[at:], f"excerpt {row} + named token"))
        if src.vocab is not None and (other := _similar_unnamed(src.vocab, trigger, named)) is not None:
            out.append(src.probe("builtin-near-miss", context[:at] + [other] + context[at:], f"excerpt {row} + similar token"))
    for row in src.fresh_rows(k, must_contain=named):
        ids = src.excerpts[row][:PROBE_TOKENS].tolist()
        kept = [t for t in ids if t not in named]
        if kept and len(kept) < len(ids):
            out.append(src.probe("builtin-remove", kept, f"excerpt {row} without named tokens"))
    return out


def _record_ids(record: ActivationRecord, subject: SubjectModel) -> list[int]:
    if record.token_ids is not None:
        return list(record.token_ids)
    return subject.tokenize(["".join(record.tokens)])[0].ids


def _rotation(train: Sequence[ActivationRecord], k: int, offset: int) -> list[tuple[int, ActivationRecord]]:
    """k train records starting at `offset` (wrapping), so successive rounds edit different records."""
    if not train:
        return []
    return [((offset + i) % len(train), train[(offset + i) % len(train)]) for i in range(min(k, len(train)))]


def record_edits(train: Sequence[ActivationRecord], src: ProbeSources, k: int, offset: int = 0) -> list[ProbeText]:
    """Train records with the peak token removed, and with it swapped for a random corpus token."""
    out: list[ProbeText] = []
    for number, record in _rotation(train, k, offset):
        ids = _record_ids(record, src.subject)
        if len(ids) != len(record.activations) or len(ids) < 2:
            continue
        peak = int(np.argmax(record.activations))
        out.append(src.probe("edit-remove", ids[:peak] + ids[peak + 1 :], f"train record {number}, peak token removed"))
        row = src.excerpts[int(src.rng.integers(len(src.excerpts)))]
        swap = int(row[int(src.rng.integers(len(row)))])
        if swap != ids[peak]:
            out.append(src.probe("edit-swap", ids[:peak] + [swap] + ids[peak + 1 :], f"train record {number}, peak token swapped"))
    return out


def fresh_corpus(explanation: str, src: ProbeSources, k: int) -> list[ProbeText]:
    named = named_token_ids(explanation, src.vocab)
    targeted = src.fresh_rows(k // 2, must_contain=named) if named else []
    rows = targeted + src.fresh_rows(k - len(targeted))
    return [src.probe("corpus-fresh", src.excerpts[row].tolist(), f"excerpt {row}") for row in rows]


def continuation_prompts(
    train: Sequence[ActivationRecord], src: ProbeSources, k: int, offset: int = 0
) -> list[tuple[list[int], int, str]]:
    """(prefix ids, sampling seed, source) for (d): train-record prefixes that end on their peak token.

    The caller samples the continuations through the subject's service, so sampling never
    overlaps another neuron's forward on the shared model."""
    out = []
    for number, record in _rotation(train, k, offset):
        ids = _record_ids(record, src.subject)
        if len(ids) != len(record.activations) or not ids:
            continue
        peak = int(np.argmax(record.activations))
        prefix = ids[max(0, peak - 15) : peak + 1]
        out.append((prefix, int(src.rng.integers(2**31)), f"train record {number} continued by the subject"))
    return out
