"""Context gates: does a word make the neuron respond only in some context, or everywhere but one?

A false positive (the explanation predicts the word high where the neuron stays low) or a false
negative (the neuron responds to a word the explanation leaves out) often means the word matters
only in a context. `best_gate` looks for the context condition that best separates the word's
high occurrences from its low ones in the evidence; `gate_probes` writes fresh texts with the word in
and out of that context (the probe generators gate-with and gate-without: the builtin reviser asks
the loop to run them, `BuiltinReviser.test_probes`) and `confirmed` reads them, so a gate enters an
explanation only after new text has tested it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.builtin.compose import condition_masks, mask_of, top_previous, word_value
from tools.builtin.evidence import Evidence
from tools.builtin.grammar import Condition, Item, render_condition, render_item
from tools.builtin.vocab import VocabIndex
from tools.probes.generators import PROBE_TOKENS, ProbeSources
from tools.probes.types import Counterexample, ProbeText

MIN_SIDE = 2.0
"""Occurrences needed on each side of a gate to believe the split."""
MIN_SEPARATION = 0.5
"""The response outside the context must be at most this share of the response inside it (above the base)."""


@dataclass(frozen=True)
class GateHypothesis:
    value: str
    """The word, quoted as an explanation names it."""
    condition: Condition
    mean_in: float
    """Mean raw activation of the word where the condition holds."""
    mean_out: float
    support_in: float
    support_out: float

    @property
    def label(self) -> str:
        return f"{render_item(Item('word', (self.value,)))} {render_condition(self.condition)}"


def word_mask(evidence: Evidence, vocab: VocabIndex, value: str) -> np.ndarray:
    vocab_mask = np.zeros(vocab.size, dtype=bool)
    vocab_mask[vocab.word_ids(value)] = True
    return mask_of(vocab_mask, evidence.ids)


def _side(evidence: Evidence, where: np.ndarray) -> tuple[float, float]:
    """(weighted mean activation, occurrences) where `where` holds."""
    weight = evidence.weight[where]
    total = weight.sum()
    if total <= 0:
        return 0.0, 0.0
    # np.average's own checks cost more than the arithmetic on these few occurrences.
    return float((evidence.act[where] * weight).sum() / total), float(where.sum())


def best_gate(evidence: Evidence, vocab: VocabIndex, value: str) -> GateHypothesis | None:
    """The condition under which `value` responds most clearly more than elsewhere, if the evidence shows one."""
    fires = word_mask(evidence, vocab, value)
    if not fires.any():
        return None
    base = evidence.base
    best: tuple[float, GateHypothesis] | None = None
    high, low = top_previous(evidence, vocab, fires)
    for condition, met in condition_masks(evidence, vocab, high, low):
        mean_in, n_in = _side(evidence, fires & met)
        mean_out, n_out = _side(evidence, fires & ~met)
        if n_in < MIN_SIDE or n_out < MIN_SIDE or mean_in <= base:
            continue
        if mean_out - base > MIN_SEPARATION * (mean_in - base):
            continue
        # Separation, discounted when either side rests on few occurrences.
        strength = (mean_in - mean_out) * np.sqrt(min(n_in, n_out))
        if best is None or strength > best[0]:
            best = (strength, GateHypothesis(value, condition, mean_in, mean_out, n_in, n_out))
    return best[1] if best else None


def hypotheses_for(counterexamples: Sequence[Counterexample], evidence: Evidence, vocab: VocabIndex,
                   limit: int = 2) -> list[GateHypothesis]:
    """Gates worth testing: for the words the counterexamples got most wrong, the context that separates them."""
    error: dict[str, float] = {}
    for c in counterexamples:
        for i in c.offending:
            value = word_value(c.tokens[i])
            if value.strip():
                error[value] = error.get(value, 0.0) + c.error
    out = []
    for value in sorted(error, key=lambda v: -error[v]):
        gate = best_gate(evidence, vocab, value)
        if gate is not None:
            out.append(gate)
        if len(out) == limit:
            break
    return out


def measure(evidence: Evidence, vocab: VocabIndex, hypothesis: GateHypothesis) -> tuple[float, float, float, float]:
    """(mean in, support in, mean out, support out) of the hypothesis's word on this evidence."""
    fires = word_mask(evidence, vocab, hypothesis.value)
    condition = hypothesis.condition
    words = [v for v in condition.values if not v.startswith("class:")]
    high, low = (words, []) if condition.kind == "after" else ([], words) if condition.kind == "unless_after" else ([], [])
    masks = dict(condition_masks(evidence, vocab, high, low))
    met = masks.get(condition)
    if met is None:
        return 0.0, 0.0, 0.0, 0.0
    mean_in, n_in = _side(evidence, fires & met)
    mean_out, n_out = _side(evidence, fires & ~met)
    return mean_in, n_in, mean_out, n_out


def confirmed(probe_evidence: Evidence, vocab: VocabIndex, hypothesis: GateHypothesis) -> bool:
    """Whether probes written to test the gate agree with it: the word responds clearly more in the context."""
    mean_in, n_in, mean_out, n_out = measure(probe_evidence, vocab, hypothesis)
    if n_in < 1 or n_out < 1:
        return False
    spread = max(hypothesis.mean_in - hypothesis.mean_out, 1e-9)
    return mean_in - mean_out > 0.5 * spread


def _context_prefix(condition: Condition, vocab: VocabIndex, rng: np.random.Generator, row: Sequence[int]) -> list[int] | None:
    """Token ids that put the next token in `condition`'s context (None when the vocabulary cannot)."""
    kind = condition.kind
    if kind in ("after", "unless_after", "mostly_after"):
        words = [v for v in condition.values if not v.startswith("class:")]
        classes = [v.removeprefix("class:") for v in condition.values if v.startswith("class:")]
        if words:
            ids = vocab.word_ids(words[int(rng.integers(len(words)))])
            return [ids[-1]] if ids else None
        return _class_member(vocab, classes[0], row, rng)
    if kind == "after_class":
        return _class_member(vocab, condition.values[0], row, rng)
    marks = {"line_start": "\n", "sentence_start": ".", "inside_parens": " (", "inside_quotes": ' "'}
    mark = vocab.id_of(marks[kind])
    if mark is None:
        return None
    filler = [int(t) for t in row[:2]] if kind in ("inside_parens", "inside_quotes") else []
    return [mark, *filler]


def _class_member(vocab: VocabIndex, name: str, row: Sequence[int], rng: np.random.Generator) -> list[int] | None:
    members = [int(t) for t in row if vocab.classes[name][int(t)]]
    if not members:
        pool = np.flatnonzero(vocab.classes[name])
        if not len(pool):
            return None
        return [int(pool[int(rng.integers(len(pool)))])]
    return [members[int(rng.integers(len(members)))]]


def gate_probes(value: str, condition: Condition, src: ProbeSources, k: int, vocab: VocabIndex) -> list[ProbeText]:
    """k fresh texts with `value` right after the gate's context, and k with it after ordinary text."""
    ids = vocab.word_ids(value)
    if not ids:
        return []
    word = ids[-1]
    label = f"{value!r} {condition.kind.replace('_', ' ')} {', '.join(condition.values)}".strip()
    out: list[ProbeText] = []
    for row in src.fresh_rows(k):
        context = src.excerpts[row][:PROBE_TOKENS].tolist()
        at = int(src.rng.integers(4, max(5, len(context) - 4)))
        prefix = _context_prefix(condition, vocab, src.rng, context)
        if prefix is None:
            return []
        out.append(src.probe("gate-with", context[:at] + prefix + [word] + context[at:], f"gate {label}: in context, excerpt {row}"))
        out.append(src.probe("gate-without", context[:at] + [word] + context[at:], f"gate {label}: out of context, excerpt {row}"))
    return out
