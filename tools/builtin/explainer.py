"""The builtin explainer: short explanations fitted to the records it is shown, no LLM involved."""

from __future__ import annotations

from collections.abc import Sequence

from tools.builtin.compose import candidate_explanations
from tools.builtin.evidence import Evidence, EvidenceText
from tools.builtin.vocab import VocabIndex
from tools.explainers.base import DEFAULT_MAX_WORDS, cap_words
from tools.formats.openai import ActivationRecord

NOTHING = "nothing recognizable"


class BuiltinExplainer:
    """Fits explanations of at most `max_words` words to the records' tokens and raw activations."""

    name = "builtin"

    def __init__(self, vocab: VocabIndex, max_words: int = DEFAULT_MAX_WORDS) -> None:
        self.vocab = vocab
        self.max_words = max_words

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        evidence = Evidence.from_texts((EvidenceText(r.tokens, r.activations) for r in records), self.vocab)
        fits = candidate_explanations(evidence, self.vocab, n, self.max_words)
        return [cap_words(f.text, self.max_words) for f in fits] or [NOTHING]
