"""The builtin reviser: explanations refitted on everything probed so far, and edits that answer counterexamples.

Three kinds of candidates, all within the word cap:
- refitted: the explainer's fitting (`compose`) on train records plus every probe, weighted so the
  evidence keeps the top-vs-random mixture of the records the explanation will be judged on;
- edits of the current explanation, each answering named counterexamples:
  a false positive on a word leads to a context gate (when the gate's own probes confirm it) or to
  removing the word; a false negative leads to adding the word, its forms, or the word in its
  context;
- answering refits: the refit with a counterexample's answer imposed (a false negative's word forced
  in, a false positive's word allowed only in context) and every other clause fitted around it on the
  same evidence. An edit keeps the incumbent's other clauses, fitted on less; a plain refit ignores
  the counterexamples; this is both at once (docs/science.md#revision).

An answering refit whose text a plain refit also wrote counts as that refit: it answers nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from tools.builtin.compose import Composer, Feature, composer_candidates, word_value
from tools.builtin.evidence import Evidence, EvidenceText, mixture_weights
from tools.builtin.gates import best_gate, confirmed, gate_probes, hypotheses_for, word_mask
from tools.builtin.grammar import Clause, Explanation, Item, parse, render
from tools.builtin.vocab import VocabIndex
from tools.explainers.base import DEFAULT_MAX_WORDS, word_count
from tools.formats.openai import ActivationRecord
from tools.probes.generators import ProbeSources
from tools.probes.types import Counterexample, ProbeResult, ProbeText
from tools.revisers.base import ProbeFindings, Revision, RevisionContext

GATE_GENERATORS = ("gate-with", "gate-without")
RANDOM_GENERATORS = ("corpus-fresh",)
PROBE_SHARE = 2.0
"""Weight of all designed probes together (insertions, edits, continuations) next to the records' mixture."""
EDITED_WORDS = 3
"""Words per counterexample kind that get an edit."""


def evidence_texts(train: Sequence[ActivationRecord], evidence: Sequence[ActivationRecord], probes: Sequence[ProbeResult],
                   mixture: dict[str, float], top_threshold: float | None) -> list[EvidenceText]:
    """Everything the loop may learn from, weighted to the mixture explanations are judged on: train and evidence
    records as top or random records, fresh excerpts by whether they reach the top threshold, designed probes
    (insertions, edits, continuations) with a small share. Gate probes only test gates."""
    texts: list[tuple[Sequence[str], Sequence[float], str]] = [(r.tokens, r.activations, "top") for r in train]
    texts += [(r.tokens, r.activations, "top" if top_threshold is not None and max(r.activations, default=0.0) >= top_threshold
               else "random") for r in evidence]
    for p in probes:
        if p.generator in GATE_GENERATORS:
            continue
        if p.generator in RANDOM_GENERATORS:
            reaches = top_threshold is not None and max(p.real, default=0.0) >= top_threshold
            texts.append((p.tokens, p.real, "top" if reaches else "random"))
        else:
            texts.append((p.tokens, p.real, "probe"))
    weights = mixture_weights([k for _, _, k in texts], mixture | {"probe": PROBE_SHARE})
    return [EvidenceText(t, a, w, k) for (t, a, k), w in zip(texts, weights, strict=True)]


def _offending_words(counterexamples: Sequence[Counterexample], kind: str) -> list[tuple[str, list[str]]]:
    """Words at the offending tokens of one kind, most total error first, with the labels of their counterexamples."""
    error: dict[str, float] = defaultdict(float)
    labels: dict[str, list[str]] = defaultdict(list)
    for c in counterexamples:
        if c.kind != kind:
            continue
        for i in c.offending:
            value = word_value(c.tokens[i])
            if not value.strip():
                continue
            error[value] += c.error
            if c.label not in labels[value]:
                labels[value].append(c.label)
    ranked = sorted(error, key=lambda v: -error[v])
    return [(v, labels[v]) for v in ranked[:EDITED_WORDS]]


def _without(explanation: Explanation, value: str) -> tuple[Explanation, float | None]:
    """The explanation with `value` taken out of every word list, and the strength it had."""
    clauses = []
    strength = None
    for clause in explanation.clauses:
        items = []
        for item in clause.items:
            if item.kind == "word" and value in item.values:
                keep = [(v, w) for v, w in zip(item.values, item.weights or (None,) * len(item.values), strict=True) if v != value]
                own = dict(zip(item.values, item.weights or (None,) * len(item.values), strict=True))[value]
                strength = own if own is not None else clause.weight
                if keep:
                    items.append(Item("word", tuple(v for v, _ in keep), tuple(w for _, w in keep)))
            else:
                items.append(item)
        if items:
            clauses.append(Clause(items, list(clause.conditions), clause.weight))
    return replace(explanation, clauses=clauses), strength


def _with_clause(explanation: Explanation, clause: Clause) -> Explanation:
    clauses = sorted([*explanation.clauses, clause], key=lambda c: -c.weight)
    return replace(explanation, clauses=clauses)


def _with_word(explanation: Explanation, value: str, level: float) -> Explanation:
    """`value` joined to the plain word list of its strength, or in a clause of its own."""
    clauses = [Clause(list(c.items), list(c.conditions), c.weight) for c in explanation.clauses]
    for clause in clauses:
        if clause.weight == level and not clause.conditions:
            for n, item in enumerate(clause.items):
                if item.kind == "word":
                    clause.items[n] = Item("word", (*item.values, value), (*(item.weights or (None,) * len(item.values)), None))
                    return replace(explanation, clauses=clauses)
    return _with_clause(explanation, Clause([Item("word", (value,))], [], level))


def _within(explanation: Explanation, max_words: int, protect: str) -> str | None:
    """The rendered explanation, shortened from its weakest end to `max_words` (never dropping `protect`)."""
    clauses = [Clause(list(c.items), list(c.conditions), c.weight) for c in explanation.clauses]
    current = replace(explanation, clauses=clauses)
    text = render(current)
    while word_count(text) > max_words:
        for clause in sorted(current.clauses, key=lambda c: c.weight):
            if protect in render(Explanation(clauses=[clause])):
                continue
            item = clause.items[-1]
            if item.kind == "word" and len(item.values) > 1:
                clause.items[-1] = Item("word", item.values[:-1], (item.weights or (None,) * len(item.values))[:-1])
            else:
                clause.items.pop()
            if not clause.items:
                current.clauses.remove(clause)
            break
        else:
            return None
        text = render(current)
    return text


def _plain_word(feature: Feature, value: str) -> bool:
    """A context-free clause that names `value` among its words."""
    return feature.condition is None and feature.item is not None and feature.item.kind == "word" and value in feature.item.values


def _barred(feature: Feature, values: Sequence[str]) -> bool:
    return any(_plain_word(feature, v) for v in values)


def _context_free_words(text: str) -> set[str]:
    return {v for c in parse(text).clauses if not c.conditions for i in c.items if i.kind == "word" for v in i.values}


def answering_refits(composer: Composer, counterexamples: Sequence[Counterexample], max_words: int,
                     plain: str | None) -> list[Revision]:
    """Refits around each offending word's answer (a false negative's word forced in at its best strength, a
    false positive's word barred but in a context clause), then one around all of them at once. `plain` is
    the composer's own fullest fit: a false negative's word it already says, or a false positive's word it never
    says, gets no refit of its own (a fit costs as much as the plain one, and would write the plain text again,
    or nearly: a forced word goes in first)."""
    said = _context_free_words(plain) if plain is not None else set()
    out: list[Revision] = []
    forced: list[tuple[Feature, list[str]]] = []
    for value, labels in _offending_words(counterexamples, "false_negative"):
        own = composer.word_feature(value) if value not in said else None
        fit = composer.fit(max_words, forced=[own]) if own is not None else None
        if own is not None and fit is not None:
            forced.append((own, labels))
            out.append(Revision(text=fit.text, answers=labels, note=f"refitted with {value!r} kept in"))
    barred: list[tuple[str, list[str]]] = []
    for value, labels in _offending_words(counterexamples, "false_positive"):
        fit = composer.fit(max_words, banned=partial(_barred, values=[value])) if value in said else None
        if fit is not None:
            barred.append((value, labels))
            out.append(Revision(text=fit.text, answers=labels, note=f"refitted with {value!r} only in context"))
    if len(forced) + len(barred) > 1:
        fit = composer.fit(max_words, forced=[f for f, _ in forced], banned=partial(_barred, values=[v for v, _ in barred]))
        if fit is not None:
            labels = list(dict.fromkeys(label for _, ls in [*forced, *barred] for label in ls))
            out.append(Revision(text=fit.text, answers=labels, note=f"refitted answering {len(forced) + len(barred)} words"))
    return out


class BuiltinReviser:
    name = "builtin"

    def __init__(self, vocab: VocabIndex, max_words: int = DEFAULT_MAX_WORDS) -> None:
        self.vocab = vocab
        self.max_words = max_words

    def test_probes(self, findings: ProbeFindings, sources: ProbeSources, k: int) -> list[ProbeText]:
        """Gate probes: for the words the round's counterexamples got most wrong, the context gate the evidence
        suggests (`hypotheses_for`), tested on fresh text with the word in that context and out of it, so
        that `edits` adopts a gate only once its own probes confirm it."""
        if k <= 0:
            return []
        evidence = Evidence.from_texts(evidence_texts(findings.train, findings.evidence, findings.probes, findings.mixture,
                                                      findings.top_threshold), self.vocab)
        return [text for gate in hypotheses_for(findings.counterexamples, evidence, self.vocab)
                for text in gate_probes(gate.value, gate.condition, sources, k, self.vocab)]

    def _level(self, evidence: Evidence, value: str, top: float) -> float:
        """The 0-10 strength a word's mean response earns next to the explanation's strongest."""
        fires = word_mask(evidence, self.vocab, value)
        if not fires.any() or top <= evidence.base:
            return 0.0
        mean = float(np.average(evidence.act[fires], weights=evidence.weight[fires]))
        return float(np.clip(round(10 * (mean - evidence.base) / (top - evidence.base)), 0, 10))

    def _top_mean(self, evidence: Evidence, explanation: Explanation) -> float:
        means = []
        for clause in explanation.clauses:
            if clause.weight >= 10:
                for item in clause.items:
                    for value in item.values if item.kind == "word" else ():
                        fires = word_mask(evidence, self.vocab, value)
                        if fires.any():
                            means.append(float(np.average(evidence.act[fires], weights=evidence.weight[fires])))
        return max(means) if means else float(np.max(evidence.act, initial=0.0))

    def edits(self, context: RevisionContext, evidence: Evidence, gate_evidence: Evidence | None) -> list[Revision]:
        current = parse(context.explanation)
        top = self._top_mean(evidence, current)
        out: list[Revision] = []
        for value, labels in _offending_words(context.counterexamples, "false_positive"):
            without, strength = _without(current, value)
            if strength is None:
                continue
            gate = best_gate(evidence, self.vocab, value)
            if gate is not None and gate_evidence is not None and confirmed(gate_evidence, self.vocab, gate):
                gated = _with_clause(without, Clause([Item("word", (value,))], [gate.condition], strength))
                text = _within(gated, self.max_words, gate.label)
                if text:
                    out.append(Revision(text=text, answers=labels, note=f"gate: {gate.label}, confirmed by its probes"))
            text = _within(without, self.max_words, "")
            if text and parse(text).clauses:
                out.append(Revision(text=text, answers=labels, note=f"removed {value!r}"))
        for value, labels in _offending_words(context.counterexamples, "false_negative"):
            level = self._level(evidence, value, top)
            if level >= 1:
                text = _within(_with_word(current, value, level), self.max_words, f'"{value}"')
                if text:
                    out.append(Revision(text=text, answers=labels, note=f"added {value!r} ({level:g})"))
            gate = best_gate(evidence, self.vocab, value)
            if gate is not None and gate_evidence is not None and confirmed(gate_evidence, self.vocab, gate):
                level = float(np.clip(round(10 * (gate.mean_in - evidence.base) / max(top - evidence.base, 1e-9)), 1, 10))
                text = _within(_with_clause(current, Clause([Item("word", (value,))], [gate.condition], level)),
                               self.max_words, gate.label)
                if text:
                    out.append(Revision(text=text, answers=labels, note=f"added in context: {gate.label}, confirmed by its probes"))
        return out

    async def revise(self, context: RevisionContext, n: int) -> list[Revision]:
        evidence = Evidence.from_texts(evidence_texts(context.train, context.evidence, context.probes, context.mixture,
                                                      context.top_threshold), self.vocab)
        gates = [p for p in context.probes if p.generator in GATE_GENERATORS]
        gate_evidence = Evidence.from_texts((EvidenceText(p.tokens, p.real) for p in gates), self.vocab) if gates else None
        fresh = sum(p.generator in RANDOM_GENERATORS for p in context.probes)
        records = len(context.train) + len(context.evidence)
        composer = Composer(evidence, self.vocab)
        refits = [Revision(text=f.text, note=f"refitted on {records} records and {len(context.probes)} probes "
                                                f"({fresh} fresh excerpts)")
                  for f in composer_candidates(composer, max(n, 4), self.max_words)]
        seen = {context.explanation, *(text for text, _ in context.history)}
        out: list[Revision] = []
        # Answering refits after the plain ones: one that a plain refit also wrote counts as that refit, so they
        # count as answers only where the counterexample changed the text.
        candidates = [*self.edits(context, evidence, gate_evidence), *refits,
                      *answering_refits(composer, context.counterexamples, self.max_words, refits[0].text if refits else None)]
        for revision in candidates:
            if revision.text not in seen:
                seen.add(revision.text)
                out.append(revision)
        # Scoring a builtin candidate costs nothing, so every edit and refit is worth a try, not only `n`.
        return out
