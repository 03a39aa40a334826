"""The numbered chat-logprob simulator against the real client and a loopback chat-completions server."""

from __future__ import annotations

import pytest

from bench.support.chat_server import ChatServer
from bench.support.replies import Piece, answer, certain, plain, slot
from tools.llm.openai_client import OpenAIChatLLM
from tools.simulators.base import Simulator
from tools.simulators.chat_logprob_numbered import NumberedChatLogprobSimulator

TOKENS = ["The", " cat", " sat"]


def numbered(number: int, values: list[list[Piece]]) -> list[Piece]:
    pieces = [plain(f"<record {number}>\n")]
    for line, value in enumerate(values, start=1):
        pieces += [plain(f"{line}\t"), *value, plain("\n")]
    return [*pieces, plain(f"</record {number}>")]


def test_is_a_simulator_with_its_own_method(llm: OpenAIChatLLM) -> None:
    assert isinstance(NumberedChatLogprobSimulator(llm), Simulator)
    assert NumberedChatLogprobSimulator(llm).method == "chat-logprob-numbered"


async def test_values_by_line_number_and_the_request_sent(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(answer(numbered(1, [certain(0), [slot("7", {"7": 0.6, "8": 0.4})], certain(10)])))

    [simulation] = await NumberedChatLogprobSimulator(llm).simulate("cats", [TOKENS])

    assert simulation.ok and simulation.method == "chat-logprob-numbered"
    assert simulation.expected == pytest.approx([0.0, 7.4, 10.0])
    [body] = chat_server.bodies
    assert body["max_tokens"] == 3 * 5 + 16 + 32 and body["logprobs"] is True
    assert body["messages"][-1]["content"] == "Explanation: cats\n\n<record 1>\n1\tThe\n2\t cat\n3\t sat\n</record 1>"
    assert "Do not copy the tokens." in body["messages"][0]["content"]


async def test_one_unreadable_record_fails_alone_with_its_reason(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    skipped = numbered(2, [certain(1), certain(2)])  # record 2 has three tokens: line 3 is missing
    chat_server.script(answer(numbered(1, [certain(4)]), skipped))

    first, second = await NumberedChatLogprobSimulator(llm, records_per_request=2).simulate("e", [["x"], TOKENS])

    assert first.ok and first.expected == [4.0]
    assert second.status == "failed" and second.method == "chat-logprob-numbered"
    assert second.error == "token 2 (' sat', line 3): no line of the answer stands for it"
