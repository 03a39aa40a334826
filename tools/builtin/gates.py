"""Context gates: does a word make the neuron respond only in some context, or everywhere but one?

A false positive (the explanation predicts the word high where the neuron stays low) or a false
negative (the neuron responds to a word the explanation leaves out) often means the word matters
only in a context. `best_gate` looks for the context condition that best separates the word's
high occurrences from its low ones in the evidence; the agent then writes probes with the word in
and out of that context (`tools.probes.generators.gate_probes`) and `confirmed` reads them, so a
gate enters an explanation only after new text has tested it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.builtin.compose import condition_masks, mask_of, top_previous, word_value
from tools.builtin.evidence import Evidence
from tools.builtin.grammar import Condition, Item, render_condition, render_item
from tools.builtin.vocab import VocabIndex
from tools.probes.types import Counterexample

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
