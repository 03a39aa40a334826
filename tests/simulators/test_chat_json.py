"""The chat-json simulator against the real client and a loopback chat-completions server."""

from __future__ import annotations

import pytest

from bench.support.chat_server import Answer, ChatServer, Status
from tools.llm.openai_client import OpenAIChatLLM
from tools.simulators.base import Simulator
from tools.simulators.chat_json import ChatJsonSimulator

TOKENS = ["The", " cat", " sat"]


def test_is_a_simulator(llm: OpenAIChatLLM) -> None:
    assert isinstance(ChatJsonSimulator(llm), Simulator) and ChatJsonSimulator(llm).method == "chat-json"


async def test_good_json_and_the_request_sent(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(Answer('{"records": [[0, 3, 10], [7]]}'))

    first, second = await ChatJsonSimulator(llm).simulate("cats", [TOKENS, ["x"]])

    assert first.ok and first.method == "chat-json" and first.expected == [0.0, 3.0, 10.0]
    assert first.distribution_values == [[0.0], [3.0], [10.0]]
    assert first.distribution_probabilities == [[1.0], [1.0], [1.0]]
    assert second.expected == [7.0]
    [body] = chat_server.bodies
    assert body["temperature"] == 0.0 and "logprobs" not in body
    assert body["max_tokens"] == 4 * 3 + 2 * 8 + 32
    assert body["messages"][-1]["content"].endswith("Record 1 has 3 tokens; record 2 has 1 token.")


@pytest.mark.parametrize(
    "text",
    [
        'Here are the values:\n```json\n{"records": [[0, 3, 10]]}\n```\nHope this helps.',
        '```\n{"records": [[0, 3, 10]]}\n```',
        '{"note": "first try"} then {"records": [[0, 3, 10]]}',
        '{"records": [0, 3, 10]}',  # one record written as a flat list
    ],
)
async def test_json_is_found_inside_fences_and_chatter(
    chat_server: ChatServer, llm: OpenAIChatLLM, text: str
) -> None:
    chat_server.script(Answer(text))
    [simulation] = await ChatJsonSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.ok, simulation.error
    assert simulation.expected == [0.0, 3.0, 10.0]


async def test_a_wrong_count_fails_only_that_record(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(Answer('{"records": [[0, 3], [7]]}'))
    first, second = await ChatJsonSimulator(llm).simulate("cats", [TOKENS, ["x"]])
    assert first.status == "failed" and first.error == "record 1: 2 values for 3 tokens"
    assert second.ok and second.expected == [7.0]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I think the neuron fires on cats.", "no JSON object with 'records'"),
        ('{"records": [[0, 3, 10', "no JSON object with 'records'"),
        ('{"records": [[0, 3, 10]]}', "expected 2 record lists, got 1"),
        ('{"records": "0 3 10"}', "'records' is a str, not a list"),
    ],
)
async def test_garbage_fails_every_record(
    chat_server: ChatServer, llm: OpenAIChatLLM, text: str, reason: str
) -> None:
    chat_server.script(Answer(text))
    simulations = await ChatJsonSimulator(llm).simulate("cats", [TOKENS, ["x"]])
    assert [s.status for s in simulations] == ["failed", "failed"]
    assert all(reason in (s.error or "") for s in simulations)


@pytest.mark.parametrize(
    ("values", "reason"),
    [("[0, 11, 2]", "value 11 is outside 0-10"), ("[0, -1, 2]", "value -1 is outside 0-10"),
     ("[0, 2.5, 2]", "value 2.5 is not a whole number"), ('[0, "3", 2]', "value '3' is not a whole number"),
     ("[0, true, 2]", "value True is not a whole number")],
)  # fmt: skip
async def test_values_are_never_clamped(
    chat_server: ChatServer, llm: OpenAIChatLLM, values: str, reason: str
) -> None:
    chat_server.script(Answer(f'{{"records": [{values}]}}'))
    [simulation] = await ChatJsonSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed" and reason in (simulation.error or "")


async def test_an_llm_error_fails_the_records_and_does_not_raise(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(Status(503), Status(503))
    simulations = await ChatJsonSimulator(llm).simulate("cats", [TOKENS, ["x"]])
    assert all(
        s.status == "failed" and (s.error or "").startswith("LLM request failed:") for s in simulations
    )


async def test_records_are_batched_per_request(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    # Two requests of two records; the same answer fits both, whichever arrives first.
    chat_server.script(Answer('{"records": [[1], [2]]}'), Answer('{"records": [[1], [2]]}'))
    simulations = await ChatJsonSimulator(llm, records_per_request=2).simulate("e", [["a"], ["b"]] * 2)
    assert len(chat_server.requests) == 2
    assert [s.expected for s in simulations] == [[1.0], [2.0], [1.0], [2.0]]
