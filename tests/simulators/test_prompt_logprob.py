"""The prompt-logprob (all-at-once) simulator against the real client and a loopback completions server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.support.chat_server import ChatServer, Echo, Status
from bench.support.replies import echo, toy_tokenize
from tools.llm.openai_client import OpenAIChatLLM
from tools.simulators.base import Simulator
from tools.simulators.prompt_logprob import PromptLogprobSimulator
from tools.simulators.rendering import PLACEHOLDER, all_at_once_prompt

TOKENS = ["The", " cat", "\n"]
# Golden value of docs/science.md#expected-value: these candidates give EV 2.5.
GOLDEN_TOP = {"0": 0.5, "5": 0.2, "10": 0.1, "the": 0.15, " 3": 0.05}


def test_is_a_simulator(llm: OpenAIChatLLM) -> None:
    assert (
        isinstance(PromptLogprobSimulator(llm), Simulator)
        and PromptLogprobSimulator(llm).method == "prompt-logprob"
    )


async def test_expected_values_at_the_placeholders_and_the_request_sent(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    prompt = all_at_once_prompt("cats", TOKENS)
    chat_server.script(
        echo(toy_tokenize(prompt.text), [GOLDEN_TOP, {"8": 0.9, "unknown": 0.1}, {"unknown": 0.9, "0": 0.1}])
    )

    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])

    assert simulation.ok, simulation.error
    assert simulation.method == "prompt-logprob" and simulation.tokens == TOKENS
    assert simulation.expected == pytest.approx([2.5, 8.0, 0.0])
    assert simulation.distribution_values == [[0.0, 5.0, 10.0], [8.0], [0.0]]
    assert simulation.notes == []
    # Probability on values before renormalizing: 0.8, 0.9 and 0.1 at the three slots.
    assert simulation.value_mass == pytest.approx(0.8)
    [request] = chat_server.requests
    assert request.path == "/v1/completions"
    body = request.body
    assert (body["prompt"], body["echo"], body["logprobs"], body["model"]) == (prompt.text, True, 15, "sim")


async def test_a_dummy_leading_space_and_empty_bos_text_are_tolerated(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    pieces = toy_tokenize(all_at_once_prompt("cats", TOKENS).text)
    pieces[0] = " " + pieces[0]  # SentencePiece-style tokenizers add a space in front of the text
    chat_server.script(echo(pieces, [{"1": 1.0}, {"2": 1.0}, {"3": 1.0}], bos=""))
    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.ok, simulation.error
    assert simulation.expected == [1.0, 2.0, 3.0]


async def test_slots_without_a_value_candidate_read_zero_with_a_note(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(
        echo(toy_tokenize(all_at_once_prompt("cats", TOKENS).text), [{"0": 1.0}, {"the": 1.0}, {" 7": 1.0}])
    )
    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.ok and simulation.expected == [0.0, 0.0, 0.0]
    assert simulation.notes == ["2 of 3 slots had no value candidate (EV 0)"]


def merge_tab_into_placeholder(pieces: list[str]) -> list[str]:
    merged: list[str] = []
    for piece in pieces:
        if piece == PLACEHOLDER and merged and merged[-1] == "\t":
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (merge_tab_into_placeholder, "token 0: its placeholder does not start a prompt token"),
        (lambda pieces: [p.replace("cat", "dog") for p in pieces], "do not spell the prompt"),
        (lambda pieces: pieces[:-3], "do not spell the prompt"),
    ],
)
async def test_misalignment_fails_the_record(
    chat_server: ChatServer, llm: OpenAIChatLLM, mangle: Callable[[list[str]], list[str]], reason: str
) -> None:
    pieces = mangle(toy_tokenize(all_at_once_prompt("cats", TOKENS).text))
    chat_server.script(echo(pieces, [{"1": 1.0}] * 3))
    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed" and simulation.expected is None
    assert reason in (simulation.error or "")


async def test_missing_top_logprobs_at_a_placeholder_fail_the_record(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(
        echo(toy_tokenize(all_at_once_prompt("cats", TOKENS).text), [{"1": 1.0}, {}, {"3": 1.0}])
    )
    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed" and simulation.error == "token 1: no top logprobs at its placeholder"


async def test_errors_fail_the_record_and_do_not_raise(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(Status(500), Status(500))
    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed" and (simulation.error or "").startswith("LLM request failed:")


async def test_a_server_without_prompt_logprobs_fails_the_record(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(Echo(tokens=[("Hi", None, {}), ("!", None, {})], logprobs=False))
    [simulation] = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed" and "server does not return prompt logprobs" in (
        simulation.error or ""
    )


async def test_one_request_per_record(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    prompt = all_at_once_prompt("cats", TOKENS)
    reply = echo(toy_tokenize(prompt.text), [{"1": 1.0}, {"2": 1.0}, {"3": 1.0}])
    chat_server.script(reply, reply)
    simulations = await PromptLogprobSimulator(llm).simulate("cats", [TOKENS, TOKENS])
    assert [s.expected for s in simulations] == [[1.0, 2.0, 3.0]] * 2
    assert len(chat_server.requests) == 2
