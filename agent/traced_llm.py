"""An LLM wrapper that writes a `model_called` trace event for every call (answered, cached or failed)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from graphs.trace import ModelCalled, TraceWriter
from tools.llm.protocol import (
    LLM,
    LLMError,
    LLMRequest,
    LLMResponse,
    PromptScorer,
    PromptScoreRequest,
    PromptScoreResponse,
    TokenLogprob,
    Usage,
)

T = TypeVar("T", LLMResponse, PromptScoreResponse)


def logprob_summary(tokens: list[TokenLogprob] | None) -> dict[str, float | int] | None:
    # Prompt tokens a sparse scoring request did not name carry no logprob.
    probs = [math.exp(t.logprob) for t in tokens or [] if t.logprob is not None]
    if not tokens or not probs:
        return None
    return {"tokens": len(tokens), "mean_token_probability": round(sum(probs) / len(probs), 4),
            "with_alternatives": sum(1 for t in tokens if t.top)}


class TracedLLM:
    def __init__(self, inner: LLM, trace: TraceWriter, model_for: dict[str, str] | None = None) -> None:
        self.inner, self.trace = inner, trace
        self.model_for = model_for or {}

    async def _traced(self, purpose: str, messages: list[dict[str, str]], call: Awaitable[T],
                      text: Callable[[T], str | None], tokens: Callable[[T], list[TokenLogprob] | None],
                      finish_reason: Callable[[T], str | None] = lambda r: None) -> T:
        try:
            response = await call
        except LLMError as err:
            self.trace.emit(ModelCalled(purpose=purpose, model=self.model_for.get(purpose, "?"), messages=messages,
                                        error=str(err)[:1000], **self.trace.base()))
            raise
        usage: Usage = response.usage
        self.trace.emit(ModelCalled(
            purpose=purpose, model=usage.model, messages=messages, response=text(response),
            logprobs=logprob_summary(tokens(response)), prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens, cost_usd=usage.cost_usd, latency_s=usage.latency_s,
            retries=usage.retries, cached=usage.cached, finish_reason=finish_reason(response), **self.trace.base(),
        ))
        return response

    async def complete(self, request: LLMRequest) -> LLMResponse:
        messages = [m.model_dump() for m in request.messages]
        return await self._traced(request.purpose, messages, self.inner.complete(request),
                                  lambda r: r.text, lambda r: r.logprobs, lambda r: r.finish_reason)

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        if not isinstance(self.inner, PromptScorer):
            raise TypeError(f"{type(self.inner).__name__} cannot score prompts")
        messages = [{"role": "prompt", "content": request.prompt}]
        return await self._traced(request.purpose, messages, self.inner.score_prompt(request),
                                  lambda r: None, lambda r: r.tokens)
