"""The builtin explainer: graded token lists (plus classes and context) read off token evidence."""

from __future__ import annotations

from collections.abc import Sequence

from tools.builtin.evidence import (
    TokenEvidence,
    dominant_class,
    dominant_suffix,
    first_positions,
    rising_position,
    shared_previous,
)
from tools.builtin.grammar import (
    Context,
    Literal,
    Position,
    StructuredExplanation,
    Suffix,
    TokenClass,
    render,
)
from tools.builtin.vocab import piece_classes
from tools.formats.openai import ActivationRecord

LIST_SIZES = (8, 4, 16, 32, 2, 64)
MIN_WEIGHT = 1.0


def graded_literals(evidence: TokenEvidence, size: int) -> list[Literal]:
    """The `size` pieces with the highest shrunk mean activation, weighted 1-10 relative to the top."""
    means = evidence.shrunk_means()
    ranked = sorted(((m, p) for p, m in means.items() if m > 0), key=lambda mp: (-mp[0], mp[1]))[:size]
    if not ranked:
        return []
    top = ranked[0][0]
    literals = []
    for mean, piece in ranked:
        weight = round(10 * mean / top)
        if weight >= MIN_WEIGHT:
            literals.append(Literal(piece, float(weight)))
    return literals


def class_weight(evidence: TokenEvidence, name: str) -> float:
    means = evidence.shrunk_means()
    members = [m for p, m in means.items() if piece_classes(p)[name]]
    top = max(means.values(), default=0.0)
    if not members or top <= 0:
        return 0.0
    return float(max(1, round(10 * max(0.0, sum(members) / len(members)) / top)))


def position_candidates(evidence: TokenEvidence, size: int) -> list[StructuredExplanation]:
    """Where-not-what explanations (the first N tokens, a rise with position), alone and with the top tokens."""
    found = []
    first = first_positions(evidence)
    if first is not None:
        found.append(Position("first", first, 10.0))
    length = rising_position(evidence)
    if length is not None:
        found.append(Position("rising", length, 10.0))
    out = []
    for position in found:
        out.append(StructuredExplanation(positions=[position]))
        top = max(evidence.shrunk_means().values(), default=0.0)
        if position.mode == "first" and top > 0:
            # With tokens too, the position's weight is on the tokens' scale: its mean over the top token's.
            weight = float(min(10, max(1, round(10 * evidence.position_mean(position.n) / top))))
            out.append(StructuredExplanation(literals=graded_literals(evidence, size), positions=[Position("first", position.n, weight)]))
    return out


def explanations_from_evidence(evidence: TokenEvidence, n: int, sizes: Sequence[int] = LIST_SIZES) -> list[str]:
    """Up to `n` distinct candidate explanations, most plausible first; token lists of `sizes` lengths."""
    peaks = evidence.strong_peaks()
    previous = shared_previous(peaks)
    klass = dominant_class(peaks)
    candidates: list[StructuredExplanation] = []
    for size in sizes:
        literals = graded_literals(evidence, size)
        if literals:
            candidates.append(StructuredExplanation(literals=literals))
    if previous is not None:
        candidates.insert(1, StructuredExplanation(classes=[TokenClass("any", 10.0)], contexts=[Context((previous,), "only")]))
        base = graded_literals(evidence, sizes[0])
        candidates.insert(2, StructuredExplanation(literals=base, contexts=[Context((previous,), "mostly")]))
    if klass is not None:
        weight = class_weight(evidence, klass)
        candidates.insert(1, StructuredExplanation(literals=graded_literals(evidence, 4), classes=[TokenClass(klass, weight)]))
    suffix = dominant_suffix(peaks)
    if suffix is not None:
        candidates.insert(1, StructuredExplanation(suffixes=[Suffix(suffix, 10.0)]))
    candidates[1:1] = position_candidates(evidence, sizes[0])
    texts: list[str] = []
    for candidate in candidates:
        text = render(candidate)
        if text not in texts:
            texts.append(text)
    return texts[:n] if texts else ["nothing recognizable"]


class BuiltinExplainer:
    """Explains from the records it is shown (token pieces and raw activations) — no LLM involved."""

    name = "builtin"

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        evidence = TokenEvidence()
        evidence.add_all((r.tokens, r.activations) for r in records)
        return explanations_from_evidence(evidence, n)
