"""The narrow LLM protocol: messages in; text, token logprobs and usage out.

Nothing outside `tools/llm/` imports a vendor SDK. A call is described by an `LLMRequest` whose
`purpose` selects the model (explainer and simulator models are configured separately); the answer
is an `LLMResponse` carrying the text, per-token logprobs with their top alternatives when asked
for, and the call's usage (tokens, latency, cost, retries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from prompts import Message as Message  # re-exported: the LLM clients take it from here

Purpose = Literal["explainer", "simulator", "prober", "reviser"]


# The two per-token types are plain dataclasses, not pydantic models: an answer carries hundreds of
# them, and building, journaling and reading them as models would cost a large share of a sweep's CPU
# (bench/sweep). Pydantic still validates and serializes them inside the models below.


@dataclass(slots=True)
class TopLogprob:
    token: str
    logprob: float
    """Natural-log probability of this token at this position."""


@dataclass(slots=True)
class TokenLogprob:
    """One generated (or prompt) token, its logprob, and the top alternatives at its position."""

    token: str
    logprob: float | None
    """Natural log; None for a prompt token the server was not asked to score (`PromptScoreRequest.offsets`)."""
    top: list[TopLogprob] = field(default_factory=list)


class Usage(BaseModel):
    """What one call cost. Failed attempts that were retried are counted in `retries`, not in tokens."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = Field(0.0, description="Wall time of the successful attempt, seconds.")
    cost_usd: float = Field(0.0, description="From the configured price table; 0 for local endpoints.")
    retries: int = 0
    cached: bool = Field(False, description="Answered from the run's call journal: not paid again.")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMRequest(BaseModel):
    purpose: Purpose
    messages: list[Message]
    max_tokens: int = Field(512, ge=1, description="Output cap, enforced in a way every supported server honours.")
    temperature: float = 0.0
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)
    seed: int | None = None


class LLMResponse(BaseModel):
    text: str
    logprobs: list[TokenLogprob] | None = Field(None, description="Per generated token, when requested and provided.")
    finish_reason: str | None = None
    usage: Usage


class PromptScoreRequest(BaseModel):
    """Score a fixed prompt (no generation): per-token logprobs of the prompt itself (vLLM `prompt_logprobs`)."""

    purpose: Purpose = "simulator"
    prompt: str
    top_logprobs: int = Field(15, ge=1, le=20)
    offsets: list[int] | None = Field(
        None,
        description="Character offsets into `prompt` of the tokens whose logprobs are read; None = every token. "
        "Servers that support it (LLMConfig.prompt_logprob_offsets) compute only those; others score every token.",
    )
    split_ten: bool = Field(
        False,
        description="At the tokens named by `offsets`, also give a \"10\" candidate where the tokenizer writes it as "
        "\"1\" then \"0\" (the \"1\" candidate keeps the rest of its mass). Only our local server does "
        "(LLMConfig.prompt_logprob_offsets); others ignore it, and \"1\" then stands for both 1 and 10.",
    )


class PromptScoreResponse(BaseModel):
    tokens: list[TokenLogprob]
    usage: Usage
    unscored_prefix: str = Field(
        "",
        description="Text of the leading prompt token(s) the server gives no logprob (nothing precedes them); "
        "`tokens` starts after it, so unscored_prefix + the tokens' text spells the prompt.",
    )


class LLMError(Exception):
    """An LLM call failed for good (after bounded retries) or returned something unusable."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@runtime_checkable
class LLM(Protocol):
    async def complete(self, request: LLMRequest) -> LLMResponse: ...


@runtime_checkable
class PromptScorer(Protocol):
    """Optional capability: servers that return logprobs for prompt tokens."""

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse: ...
