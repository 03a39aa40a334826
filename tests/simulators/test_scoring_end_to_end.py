"""`score_explanation` with each LLM simulator, through the real client and the loopback server."""

from __future__ import annotations

import math

import pytest

from bench.support.chat_server import Answer, ChatServer
from bench.support.replies import answer, certain, echo, record, toy_tokenize
from tools.evaluate import score_explanation, score_simulations
from tools.formats.openai import ActivationRecord
from tools.llm.openai_client import OpenAIChatLLM
from tools.science.expected_value import value_distribution
from tools.simulators.base import RecordSimulation
from tools.simulators.chat_json import ChatJsonSimulator
from tools.simulators.chat_logprob import ChatLogprobSimulator
from tools.simulators.prompt_logprob import PromptLogprobSimulator
from tools.simulators.rendering import all_at_once_prompt

TOKENS = ["The", " red", " fox", " ran"]
RECORDS = [
    ActivationRecord(tokens=TOKENS, activations=[0.0, 2.0, 0.2, 0.0]),
    ActivationRecord(tokens=TOKENS, activations=[0.0, 2.0, 0.2, 0.0]),
]
PERFECT = [0, 10, 1, 0]  # 5 x the true activations: r = 1


async def test_chat_logprob(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    reply = answer(record(1, [(token, certain(value)) for token, value in zip(TOKENS, PERFECT, strict=True)]))
    chat_server.script(reply, reply)
    score = await score_explanation("colour words", RECORDS, ChatLogprobSimulator(llm), split="valid")
    assert score.method == "chat-logprob" and score.n_failed == 0
    assert score.score == pytest.approx(1.0, abs=1e-3)


async def test_chat_json_with_a_failed_record_left_out(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(Answer('{"records": [[0, 10, 1, 0], [0, 10]]}'))
    score = await score_explanation("colour words", RECORDS, ChatJsonSimulator(llm), split="valid")
    assert score.method == "chat-json" and score.n_failed == 1 and score.per_record[1] is None
    assert score.score == pytest.approx(1.0, abs=1e-3)
    assert score.to_openai().scored_simulation.scored_sequence_simulations[0].simulation.distribution_values == [
        [0.0], [10.0], [1.0], [0.0]
    ]  # fmt: skip


async def test_prompt_logprob(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    pieces = toy_tokenize(all_at_once_prompt("colour words", TOKENS).text)
    reply = echo(pieces, [{str(value): 1.0} for value in PERFECT])
    chat_server.script(reply, reply)
    score = await score_explanation("colour words", RECORDS, PromptLogprobSimulator(llm), split="valid")
    assert score.method == "prompt-logprob" and score.n_failed == 0
    assert score.score is not None and math.isclose(score.score, 1.0, abs_tol=1e-3)


def test_the_scores_value_mass_is_the_median_over_the_records_read_with_logprobs() -> None:
    def read(p_seven: float) -> RecordSimulation:
        other = value_distribution([("unknown", 0.0)])
        seven = value_distribution([("7", math.log(p_seven)), ("unknown", math.log(1 - p_seven))])
        return RecordSimulation.from_slots("prompt-logprob", ["a", "b", "c"], [seven, seven, other])

    records = [ActivationRecord(tokens=["a", "b", "c"], activations=[1.0, 0.0, 0.0]) for _ in range(4)]
    failed = RecordSimulation.failed("prompt-logprob", ["a", "b", "c"], "no answer")
    score = score_simulations("x", records, [read(0.1), read(0.2), read(0.4), failed], "test", "prompt-logprob")
    assert score.value_mass == pytest.approx(0.2)  # the failed record does not count
    plain = RecordSimulation(method="chat-json", tokens=["a", "b", "c"], expected=[1.0, 0.0, 0.0])
    assert score_simulations("x", records[:1], [plain], "test", "chat-json").value_mass is None
