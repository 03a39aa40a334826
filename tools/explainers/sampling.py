"""n concurrent samples of one prompt, cleaned into distinct usable explanations (explainer and reviser),
and the LLM-call skeleton both share."""

from __future__ import annotations

import asyncio

import structlog

from prompts import Message
from tools.explainers.base import NoExplanationError, UnchangedExplanation, clean_explanation
from tools.llm.protocol import LLM, LLMError, LLMRequest, Purpose

log = structlog.get_logger(__name__)

_REPEATED = "repeated the current explanation"


def output_cap(max_words: int) -> int:
    """Tokens to allow for an answer of `max_words` words: about two tokens a word, and room for a preamble."""
    return 2 * max_words + 40


async def sample_explanations(
    llm: LLM, purpose: Purpose, messages: list[Message], n: int, temperature: float, max_tokens: int,
    max_words: int, exclude: str | None = None,
) -> list[str]:
    """Distinct usable explanations from `n` samples with seeds 0..n-1, in sample order.

    Answers over `max_words` are cut to it (`cap_words`, as for every explainer). Failed calls and
    unusable answers (empty, absurdly long, or equal to `exclude`) are logged and dropped; raises
    NoExplanationError with the first reason when nothing usable is left, and its subclass
    UnchangedExplanation when every sample only repeated `exclude`."""
    requests = [
        LLMRequest(purpose=purpose, messages=messages, max_tokens=max_tokens, temperature=temperature, seed=i) for i in range(n)
    ]
    results = await asyncio.gather(*(llm.complete(r) for r in requests), return_exceptions=True)
    out: list[str] = []
    problems: list[str] = []
    for result in results:
        if isinstance(result, LLMError):
            problems.append(str(result))
            continue
        if isinstance(result, BaseException):
            raise result
        text = clean_explanation(result.text, max_words)
        if text is None:
            problems.append(f"unusable explanation ({len(result.text)} characters)")
        elif text == exclude:
            problems.append(_REPEATED)
        elif text not in out:
            out.append(text)
    if problems:
        log.warning("samples_rejected", purpose=purpose, count=len(problems), first=problems[0][:200])
    if not out:
        error = UnchangedExplanation if problems and all(p == _REPEATED for p in problems) else NoExplanationError
        raise error(f"no usable {purpose} answer from {n} samples: {problems[0] if problems else 'none returned'}")
    return out


class ExplanationSampler:
    """What the LLM explainer and reviser share: one LLM sampled at `temperature` for `purpose`,
    answers capped at `max_words` words and `output_cap(max_words)` tokens."""

    def __init__(self, purpose: Purpose, llm: LLM, temperature: float, max_words: int) -> None:
        self.purpose: Purpose = purpose
        self.llm = llm
        self.temperature = temperature
        self.max_words = max_words
        self.max_tokens = output_cap(max_words)

    @property
    def name(self) -> str:
        return "llm"

    async def sample(self, messages: list[Message], n: int, exclude: str | None = None) -> list[str]:
        """`sample_explanations` of `messages` with this sampler's settings."""
        return await sample_explanations(self.llm, self.purpose, messages, n, self.temperature, self.max_tokens,
                                         self.max_words, exclude=exclude)
