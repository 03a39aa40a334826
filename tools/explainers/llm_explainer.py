"""The reference explainer (docs/science.md#explanations) over the LLM seam: n samples at temperature 1."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

import prompts
from prompts import Message
from tools.explainers.base import DEFAULT_MAX_WORDS
from tools.explainers.sampling import sample_explanations
from tools.formats.openai import ActivationRecord
from tools.llm.protocol import LLM
from tools.prompting import token_value_lines
from tools.science.normalize import nonzero_share, normalize_records

log = structlog.get_logger(__name__)

REPEAT_BELOW = 0.2


def explain_prompt_values(records: Sequence[ActivationRecord], max_words: int = DEFAULT_MAX_WORDS) -> dict[str, str]:
    """The `$records` block and the word cap `$max_words`. Every record is normalized to 0-10 together and
    repeated without zeros when fewer than 20% of the shown values are non-zero (the reference shape)."""
    normalized = normalize_records([r.activations for r in records])
    blocks = [token_value_lines(r.tokens, q) for r, q in zip(records, normalized, strict=True)]
    text = "\n".join(blocks)
    if nonzero_share(normalized) < REPEAT_BELOW:
        repeated = "\n".join(token_value_lines(r.tokens, q, omit_zeros=True) for r, q in zip(records, normalized, strict=True))
        text += "\nSame activations, but with all zeros filtered out:\n" + repeated
    return {"records": text, "max_words": str(max_words)}


def explain_messages(records: Sequence[ActivationRecord], max_words: int = DEFAULT_MAX_WORDS) -> list[Message]:
    return prompts.load("explain").render(**explain_prompt_values(records, max_words))


def output_cap(max_words: int) -> int:
    """Tokens to allow for an answer of `max_words` words: about two tokens a word, and room for a preamble."""
    return 2 * max_words + 40


class LLMExplainer:
    def __init__(self, llm: LLM, temperature: float = 1.0, max_words: int = DEFAULT_MAX_WORDS) -> None:
        self.llm = llm
        self.temperature = temperature
        self.max_words = max_words
        self.max_tokens = output_cap(max_words)

    @property
    def name(self) -> str:
        return "llm"

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        return await sample_explanations(self.llm, "explainer", explain_messages(records, self.max_words), n, self.temperature,
                                         self.max_tokens, self.max_words)
