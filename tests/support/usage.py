"""Usage as a provider bills it, for the loopback server: tokens counted by a real tokenizer.

The test brain reports fixed usage (11 prompt tokens for any prompt); `FaultPlan` approximates it as
characters / 4. Neither can show whether a cost estimate bounds real usage. A provider counts the
prompt it received with its tokenizer plus its chat format's overhead (OpenAI: 3 tokens per message
and 3 to prime the reply), and bills the tokens it generated, never more than the request's cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench.support.chat_server import Answer, Behaviour

TokenCount = Callable[[str], int]

OPENAI_TOKENS_PER_MESSAGE = 3
OPENAI_REPLY_PRIMING = 3


def tokenizer_count(tokenizer: Any) -> TokenCount:
    """Tokens of a text under a Hugging Face tokenizer (no special tokens: the overhead is added apart)."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_tokens(messages: list[dict[str, str]], count: TokenCount) -> int:
    return sum(count(m["content"]) + OPENAI_TOKENS_PER_MESSAGE for m in messages) + OPENAI_REPLY_PRIMING


def billed(behaviour: Callable[[Any], Behaviour], count: TokenCount) -> Callable[[Any], Behaviour]:
    """`Respond(billed(brain, count))`: the brain's answers with the usage a provider would report.

    An answer longer than the request's cap fails the request loudly (a real server would cut it, and
    the test would no longer be about the answer it scripted)."""

    def respond(body: Any) -> Behaviour:
        answer = behaviour(body)
        assert isinstance(answer, Answer), "billing applies to chat answers"
        completion = count(answer.content)
        cap = body.get("max_tokens") or body.get("max_completion_tokens")
        assert cap is None or completion <= cap, f"the scripted answer ({completion} tokens) is over the cap of {cap}"
        return replace(answer, prompt_tokens=prompt_tokens(body["messages"], count), completion_tokens=completion)

    return respond
