"""The reference explainer (docs/science.md#explanations) over the LLM seam: n samples at temperature 1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import prompts
from prompts import Message
from tools.explainers.base import DEFAULT_MAX_WORDS
from tools.explainers.output_hint import hint_line
from tools.explainers.sampling import ExplanationSampler, OnDiscarded
from tools.formats.openai import ActivationRecord
from tools.llm.protocol import LLM
from tools.prompting import token_value_lines
from tools.records.token_digest import digest_lines, token_digest
from tools.science.normalize import max_relu, nonzero_share, normalize_records

REPEAT_BELOW = 0.2


def digest_hint(records: Sequence[ActivationRecord]) -> str:
    """The digest block (`prompts/explain_digest.txt`, with its newline) of `records`, normalized by their common
    maximum: the tokens the neuron responds to most, how often each fires, and what precedes its strong responses."""
    digest = digest_lines(token_digest(records, max_relu([r.activations for r in records])))
    return prompts.load("explain_digest").render(digest=digest)[0].content + "\n"


def explain_prompt_values(records: Sequence[ActivationRecord], max_words: int = DEFAULT_MAX_WORDS,
                          promoted: Sequence[str] | None = None,
                          digest: Sequence[ActivationRecord] | None = None) -> dict[str, str]:
    """The `$records` block, the word cap `$max_words` and `$hints`: the digest of the `digest` records
    (`tools.records.token_digest`) and a line naming the `promoted` tokens, each only when given. Every record is
    normalized to 0-10 together and repeated without zeros when fewer than 20% of the shown values are non-zero
    (the reference shape)."""
    normalized = normalize_records([r.activations for r in records])
    blocks = [token_value_lines(r.tokens, q) for r, q in zip(records, normalized, strict=True)]
    text = "\n".join(blocks)
    if nonzero_share(normalized) < REPEAT_BELOW:
        repeated = "\n".join(token_value_lines(r.tokens, q, omit_zeros=True) for r, q in zip(records, normalized, strict=True))
        text += "\nSame activations, but with all zeros filtered out:\n" + repeated
    hints = (digest_hint(digest) if digest else "") + hint_line(promoted)
    return {"records": text, "max_words": str(max_words), "hints": hints}


def explain_messages(records: Sequence[ActivationRecord], max_words: int = DEFAULT_MAX_WORDS,
                     promoted: Sequence[str] | None = None,
                     digest: Sequence[ActivationRecord] | None = None) -> list[Message]:
    return prompts.load("explain").render(**explain_prompt_values(records, max_words, promoted, digest))


PromotedTokens = Callable[[], Awaitable[Sequence[str] | None]]
"""Reads the tokens the neuron's output weights promote (`tools.explainers.output_hint.promoted_tokens`)."""


class LLMExplainer(ExplanationSampler):
    """`promoted`, when given, is asked once for the output-side hint (`--explain-output-hint`); its None (a
    subject without weights) leaves the prompt as it is without the hint. With `digest` (`--explain-digest`) the
    prompt also sums up its records (`digest_hint`)."""

    def __init__(self, llm: LLM, temperature: float = 1.0, max_words: int = DEFAULT_MAX_WORDS,
                 on_discarded: OnDiscarded | None = None, promoted: PromotedTokens | None = None,
                 digest: bool = False) -> None:
        super().__init__("explainer", llm, temperature, max_words, on_discarded)
        self.promoted = promoted
        self.digest = digest

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        hint = await self.promoted() if self.promoted is not None else None
        messages = explain_messages(records, self.max_words, hint, records if self.digest else None)
        return [s.text for s in await self.sample(messages, n)]
