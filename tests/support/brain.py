"""A rule-following fake LLM for end-to-end tests: it reads our prompts and answers in their formats.

This is the mock at the true edge (the LLM's answers): the explainer gets a fixed explanation; the
chat-logprob simulator gets a faithful re-emission of every record with value 10 on tokens named
(quoted) in the explanation and 0 elsewhere, with logprobs. It serves the loopback HTTP server
(`brain_behaviour`) and the in-process `ScriptedLLM` (`brain_response`) alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.simulators.replies import answer, certain, record
from tests.support.chat_server import Answer, Behaviour
from tools.llm.protocol import LLMRequest, LLMResponse, TokenLogprob, TopLogprob, Usage
from tools.prompting import unescape_token

_RECORD = re.compile(r"<record (\d+)>\n(.*?)\n</record \1>", re.DOTALL)
_EXPLANATION = re.compile(r"^Explanation: (.*)$", re.MULTILINE)


def named_tokens(explanation: str) -> set[str]:
    return {q.strip().lower() for q in re.findall(r'"([^"]+)"', explanation)}


def simulate_answer(user_text: str) -> Answer:
    explanation = _EXPLANATION.findall(user_text)[-1]
    names = named_tokens(explanation)
    blocks = []
    for number, body in _RECORD.findall(user_text.split("Explanation: " + explanation, 1)[1]):
        lines = body.split("\n")
        blocks.append(record(int(number), [
            (unescape_token(line), certain(10 if unescape_token(line).strip().lower() in names else 0)) for line in lines
        ]))
    return answer(*blocks)


def respond(messages: list[dict[str, str]], explanation: str) -> Answer:
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if system.startswith("We are studying neurons"):
        return Answer(content=explanation, completion_tokens=8)
    if system.startswith("You predict how strongly"):
        return simulate_answer(last_user)
    raise AssertionError(f"the fake brain does not know this prompt: {system[:80]!r}")


def brain_behaviour(explanation: str) -> Callable[[Any], Behaviour]:
    """For `Respond(...)` on the loopback chat server."""
    return lambda body: respond(body["messages"], explanation)


def brain_response(explanation: str) -> Callable[[LLMRequest], LLMResponse]:
    """For `ScriptedLLM` script items."""

    def reply(request: LLMRequest) -> LLMResponse:
        ans = respond([m.model_dump() for m in request.messages], explanation)
        logprobs = None
        if ans.logprobs is not None:
            logprobs = [TokenLogprob(token=t, logprob=lp, top=[TopLogprob(token=a, logprob=b) for a, b in top])
                        for t, lp, top in ans.logprobs]
        return LLMResponse(text=ans.content, logprobs=logprobs, finish_reason=ans.finish_reason,
                           usage=Usage(model="brain", prompt_tokens=ans.prompt_tokens, completion_tokens=ans.completion_tokens))

    return reply
