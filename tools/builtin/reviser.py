"""The builtin reviser: re-reads the token evidence of train records plus every probe run so far.

It needs no LLM: probes measure tokens in fresh contexts (inserted, removed, swapped, new corpus
excerpts, the subject's own continuations), so each round the token table behind the explanation
rests on more evidence than the few train records the one-shot explanation saw.
"""

from __future__ import annotations

from tools.builtin.evidence import TokenEvidence
from tools.builtin.explainer import explanations_from_evidence
from tools.revisers.base import RevisionContext

REVISION_SIZES = (8, 16, 32, 64, 128, 4)


class BuiltinReviser:
    name = "builtin"

    async def revise(self, context: RevisionContext, n: int) -> list[str]:
        evidence = TokenEvidence()
        evidence.add_all((r.tokens, r.activations) for r in context.train)
        evidence.add_all((p.tokens, p.real) for p in context.probes)
        seen = {context.explanation, *(text for text, _ in context.history)}
        # Scoring a builtin candidate costs nothing, so every list size is worth a try.
        wanted = max(n, len(REVISION_SIZES))
        fresh = [text for text in explanations_from_evidence(evidence, wanted + len(seen), REVISION_SIZES) if text not in seen]
        return fresh[:wanted]
