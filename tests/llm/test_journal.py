"""The call journal stores what the wire sent and replays it, impossible tokens included.

A server that gives an impossible token logprob -inf once made the journal write `-Infinity`
(prompt scores: SQLite's json_extract then refused the row and the spend query failed) or `null`
(chat: the entry could not be replayed). The wire parser now floors them; these tests go from a
wire payload through the journal and back. The inner LLMs are scripted: the answers are the edge.
"""

from __future__ import annotations

from pathlib import Path

from prompts import Message
from tools.llm.fake import ScriptedLLM
from tools.llm.journal import CallJournal, JournaledLLM
from tools.llm.parsing import chat_logprobs, prompt_logprobs
from tools.llm.protocol import LLMRequest, LLMResponse, PromptScoreRequest, PromptScoreResponse, Usage

IMPOSSIBLE = {"token": "9", "logprob": float("-inf"), "top_logprobs": [{"token": "0", "logprob": -0.1}, {"token": "9", "logprob": float("-inf")}]}
PRICED = Usage(model="m", prompt_tokens=10, completion_tokens=2, cost_usd=0.25)


class WirePromptScorer:
    """Answers one prompt score with logprobs parsed from a legacy-completions payload holding -inf."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        raise AssertionError("not scripted")

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        prefix, tokens = prompt_logprobs({"tokens": ["<s>", "a", "b"], "token_logprobs": [None, -1.0, float("-inf")],
                                          "top_logprobs": [None, {"a": -1.0}, {"b": float("-inf"), "c": -0.2}]}, None)
        return PromptScoreResponse(tokens=tokens, usage=PRICED, unscored_prefix=prefix)


async def test_a_chat_answer_with_an_impossible_token_replays_and_is_counted(tmp_path: Path) -> None:
    answer = LLMResponse(text="9", logprobs=chat_logprobs({"content": [IMPOSSIBLE]}), usage=PRICED)
    request = LLMRequest(purpose="simulator", messages=[Message(role="user", content="x")], logprobs=True, top_logprobs=2)
    journal = CallJournal(tmp_path / "calls.sqlite")
    first = await JournaledLLM(ScriptedLLM([answer]), journal, "n1").complete(request)
    replayed = await JournaledLLM(ScriptedLLM([]), journal, "n1").complete(request)  # an empty script: must not be asked
    assert replayed.usage.cached and replayed.logprobs == first.logprobs
    assert journal.spent("n1") == (0.25, 12, 1)


async def test_a_prompt_score_with_an_impossible_token_keeps_the_spend_query_working(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "calls.sqlite")
    llm = JournaledLLM(WirePromptScorer(), journal, "n1")
    first = await llm.score_prompt(PromptScoreRequest(prompt="ab"))
    replayed = await JournaledLLM(WirePromptScorer(), journal, "n1").score_prompt(PromptScoreRequest(prompt="ab"))
    assert replayed.usage.cached and replayed.tokens == first.tokens
    assert journal.spent("n1") == (0.25, 12, 1)
    assert journal.summary()["total"]
