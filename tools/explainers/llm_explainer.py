"""The reference explainer (science.md §6) over the LLM seam: n samples at temperature 1."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

import prompts
from tools.explainers.base import NoExplanationError, clean_explanation
from tools.formats.openai import ActivationRecord
from tools.llm.protocol import LLM, LLMError, LLMRequest, Message
from tools.prompting import token_value_lines
from tools.science.normalize import nonzero_share, normalize_records

log = structlog.get_logger(__name__)

REPEAT_BELOW = 0.2


def explain_prompt_values(records: Sequence[ActivationRecord]) -> dict[str, str]:
    """The `$records` block: every record normalized to 0-10 together, repeated without zeros
    when fewer than 20% of the shown values are non-zero (the reference shape)."""
    normalized = normalize_records([r.activations for r in records])
    blocks = [token_value_lines(r.tokens, q) for r, q in zip(records, normalized, strict=True)]
    text = "\n".join(blocks)
    if nonzero_share(normalized) < REPEAT_BELOW:
        repeated = "\n".join(token_value_lines(r.tokens, q, omit_zeros=True) for r, q in zip(records, normalized, strict=True))
        text += "\nSame activations, but with all zeros filtered out:\n" + repeated
    return {"records": text}


def explain_messages(records: Sequence[ActivationRecord]) -> list[Message]:
    return prompts.load("explain").render(**explain_prompt_values(records))


class LLMExplainer:
    def __init__(self, llm: LLM, temperature: float = 1.0, max_tokens: int = 80) -> None:
        self.llm = llm
        self.temperature = temperature
        self.max_tokens = max_tokens

    @property
    def name(self) -> str:
        return "llm"

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        messages = explain_messages(records)
        requests = [
            LLMRequest(purpose="explainer", messages=messages, max_tokens=self.max_tokens, temperature=self.temperature, seed=i)
            for i in range(n)
        ]
        results = await asyncio.gather(*(self.llm.complete(r) for r in requests), return_exceptions=True)
        out: list[str] = []
        problems: list[str] = []
        for result in results:
            if isinstance(result, LLMError):
                problems.append(str(result))
                continue
            if isinstance(result, BaseException):
                raise result
            text = clean_explanation(result.text)
            if text is None:
                problems.append(f"unusable explanation ({len(result.text)} characters)")
            elif text not in out:
                out.append(text)
        if problems:
            log.warning("explanations_rejected", count=len(problems), first=problems[0][:200])
        if not out:
            raise NoExplanationError(f"no usable explanation from {n} samples: {problems[0] if problems else 'none returned'}")
        return out
