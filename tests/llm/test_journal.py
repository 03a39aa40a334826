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


async def test_a_simulation_asked_again_in_a_later_node_is_not_paid_again(tmp_path: Path) -> None:
    """Simulations are keyed by neuron, not node: a later node (or a resumed run) asking the same
    simulation gets the journaled answer; other calls stay per node."""
    journal = CallJournal(tmp_path / "calls.sqlite")
    simulate = LLMRequest(purpose="simulator", messages=[Message(role="user", content="x")], logprobs=True, top_logprobs=2)
    revise = LLMRequest(purpose="reviser", messages=[Message(role="user", content="y")])
    inner = ScriptedLLM([LLMResponse(text="9", usage=PRICED), LLMResponse(text="a", usage=PRICED), LLMResponse(text="b", usage=PRICED)])
    llm = JournaledLLM(inner, journal, "0/1")
    llm.set_scope("0/1/simulate/0")
    first = [await llm.complete(simulate), await llm.complete(revise)]
    llm.set_scope("0/1/revise/1")
    second = [await llm.complete(simulate), await llm.complete(revise)]
    assert [r.text for r in first + second] == ["9", "a", "9", "b"]
    assert [r.usage.cached for r in second] == [True, False]
    assert inner.remaining == 0 and journal.spent("0/1") == (0.75, 36, 3)
    other_neuron = JournaledLLM(ScriptedLLM([LLMResponse(text="7", usage=PRICED)]), journal, "0/2")
    assert (await other_neuron.complete(simulate)).text == "7"
