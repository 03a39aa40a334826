"""The chat-logprob simulator against the real client and a loopback chat-completions server."""

from __future__ import annotations

import pytest

from bench.support.chat_server import Answer, ChatServer, Status
from bench.support.replies import answer, certain, plain, record, slot
from tools.llm.openai_client import OpenAIChatLLM
from tools.simulators.base import Simulator
from tools.simulators.chat_logprob import ChatLogprobSimulator, TenMode

TOKENS = ["The", " cat", " sat"]
# Golden value of docs/science.md#expected-value: {"0": .5, "5": .2, "10": .1, "the": .15, " 3": .05} -> EV 2.5
GOLDEN_TOP = {"0": 0.5, "5": 0.2, "10": 0.1, "the": 0.15, " 3": 0.05}


def test_is_a_simulator(llm: OpenAIChatLLM) -> None:
    assert isinstance(ChatLogprobSimulator(llm), Simulator)
    assert ChatLogprobSimulator(llm).method == "chat-logprob"


async def test_expected_values_from_top_logprobs_and_the_request_sent(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    lines = [
        ("The", [slot("0", GOLDEN_TOP)]),
        (" cat", [slot("7", {"7": 0.6, "8": 0.4})]),
        (" sat", certain(0)),
    ]
    chat_server.script(answer(record(1, lines)))

    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])

    assert simulation.ok and simulation.method == "chat-logprob" and simulation.tokens == TOKENS
    assert simulation.expected == pytest.approx([2.5, 7.4, 0.0])
    assert simulation.distribution_values == [[0.0, 5.0, 10.0], [7.0, 8.0], [0.0]]
    assert simulation.distribution_probabilities == [
        pytest.approx([0.625, 0.25, 0.125]),
        pytest.approx([0.6, 0.4]),
        pytest.approx([1.0]),
    ]
    assert simulation.notes == []
    [body] = chat_server.bodies
    assert (body["model"], body["temperature"], body["logprobs"], body["top_logprobs"]) == (
        "sim",
        0.0,
        True,
        15,
    )
    assert body["max_tokens"] == 3 * 6 + 16 + 32
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][-1]["content"] == "Explanation: cats\n\n<record 1>\nThe\n cat\n sat\n</record 1>"


def split_ten_answer(after_one: list[tuple[str, float, list[tuple[str, float]]]]) -> Answer:
    """Token "a" scored with "1" generated first (P("1") = .8, P("0") = .2), then `after_one`."""
    return answer(record(1, [("a", [slot("1", {"1": 0.8, "0": 0.2}), *after_one]), ("b", certain(0))]))


async def test_ten_written_as_one_then_zero_is_split_with_the_next_slot(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    # P(10) = P("1") * P("0" | "1") = .8 * .75; P(1) = .8 * .25; P(0) = .2
    chat_server.script(split_ten_answer([slot("0", {"0": 0.75, "\n": 0.25})]))

    [simulation] = await ChatLogprobSimulator(llm).simulate("a", [["a", "b"]])

    assert simulation.ok, simulation.error
    assert simulation.expected == pytest.approx([10 * 0.6 + 1 * 0.2, 0.0])
    assert simulation.distribution_values is not None and simulation.distribution_values[0] == [
        0.0,
        1.0,
        10.0,
    ]
    assert simulation.distribution_probabilities is not None
    assert simulation.distribution_probabilities[0] == pytest.approx([0.2, 0.2, 0.6])


async def test_single_mode_refuses_a_ten_written_as_two_tokens(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(split_ten_answer([slot("0", {"0": 0.75, "\n": 0.25})]))
    [simulation] = await ChatLogprobSimulator(llm, ten_mode="single").simulate("a", [["a", "b"]])
    assert not simulation.ok and "ten_mode is 'single'" in (simulation.error or "")


@pytest.mark.parametrize(("ten_mode", "expected"), [("auto", 0.8), ("split", 0.8 * 0.7 + 10 * 0.8 * 0.3)])
async def test_a_plain_one_is_split_only_in_split_mode(
    chat_server: ChatServer, llm: OpenAIChatLLM, ten_mode: TenMode, expected: float
) -> None:
    # The model wrote "1" then the newline; "0" was the runner-up after the "1", with P = .3.
    block = [
        plain("<record 1>"), plain("\n"),
        plain("a"), plain("\t"), slot("1", {"1": 0.8, "0": 0.2}), slot("\n", {"\n": 0.7, "0": 0.3}),
        plain("b"), plain("\t"), *certain(0), plain("\n"),
        plain("</record 1>"),
    ]  # fmt: skip
    chat_server.script(answer(block))

    [simulation] = await ChatLogprobSimulator(llm, ten_mode=ten_mode).simulate("a", [["a", "b"]])

    assert simulation.ok, simulation.error
    assert simulation.expected is not None and simulation.expected[0] == pytest.approx(expected)


async def test_slots_without_a_value_candidate_read_zero_with_a_note(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    lines = [
        ("The", [slot("0", {"0": 0.2, "the": 0.7, " 3": 0.1})]),
        (" cat", certain(9)),
        (" sat", certain(0)),
    ]
    # The generated "0" is left out of the top list: its slot has no value candidate at all.
    lines[0] = ("The", [("0", -1.6, [("the", -0.4), (" 3", -2.3)])])
    chat_server.script(answer(record(1, lines)))

    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])

    assert simulation.ok
    assert simulation.expected == [0.0, 9.0, 0.0]
    assert simulation.distribution_values is not None and simulation.distribution_values[0] == []
    assert simulation.notes == ["1 of 3 slots had no value candidate (EV 0)"]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (
            [("The", certain(0)), (" dog", certain(3)), (" sat", certain(0))],
            "token 1 (' cat'): re-emitted as ' dog'",
        ),
        ([("The", certain(0)), (" cat", certain(3))], "token 2 (' sat'): no line of the answer stands for it"),
        # Swapped lines: sequence matching keeps " sat" in order, and " cat" then comes too late.
        (
            [("The", certain(0)), (" sat", certain(0)), (" cat", certain(3))],
            "token 2 (' sat'): no line of the answer stands for it",
        ),
        (
            [("The", certain(0)), (" cat", certain(3)), (" cat", certain(0)), (" sat", certain(0))],
            "token 1 (' cat'): written on 2 lines",
        ),
        (
            [("The", certain(0)), (" cat", [plain("high")]), (" sat", certain(0))],
            "value 'high' is not a whole number 0-10",
        ),
        (
            [("The", certain(0)), (" cat", [plain(" 7")]), (" sat", certain(0))],
            "value ' 7' is not a whole number",
        ),
        (
            [("The", certain(0)), (" cat", [plain("7")]), (" sat", certain(0))],
            "no top logprobs at the value slot",
        ),
    ],
)
async def test_a_record_that_does_not_line_up_fails_with_the_reason(
    chat_server: ChatServer, llm: OpenAIChatLLM, lines: list, reason: str
) -> None:
    if reason.startswith("no top logprobs"):
        lines[1] = (" cat", [("7", 0.0, [])])
    chat_server.script(answer(record(1, lines)))

    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])

    assert simulation.status == "failed" and simulation.expected is None
    assert reason in (simulation.error or "")


async def test_whitespace_changed_by_the_model_is_tolerated_and_noted(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(answer(record(1, [("The", certain(0)), ("cat", certain(8)), ("sat", certain(0))])))
    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.ok and simulation.expected == [0.0, 8.0, 0.0]
    assert simulation.notes == ["2 of 3 tokens re-emitted with different whitespace or escaping"]


async def test_tokens_with_newlines_and_tabs_are_compared_escaped(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    tokens = ["a", "\n", "\t", "b\\c"]
    chat_server.script(answer(record(1, [(token, certain(i)) for i, token in enumerate(tokens)])))
    [simulation] = await ChatLogprobSimulator(llm).simulate("x", [tokens])
    assert simulation.ok, simulation.error
    assert simulation.expected == [0.0, 1.0, 2.0, 3.0]
    assert "a\n\\n\n\\t\nb\\\\c" in chat_server.bodies[0]["messages"][-1]["content"]


async def test_missing_logprobs_fail_every_record_of_the_request(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    text = "<record 1>\nThe\t0\n cat\t7\n sat\t0\n</record 1>"
    chat_server.script(Answer(content=text, logprobs=None))
    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed" and simulation.error == "the server returned no logprobs"


async def test_several_records_per_request(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    first, second = ["x", " y"], ["z"]
    both = answer(
        record(1, [("x", certain(1)), (" y", certain(2))]),
        record(2, [("z", certain(10))]),
    )
    # Two requests of two records each; the same answer fits both, whichever arrives first.
    chat_server.script(both, both)

    simulations = await ChatLogprobSimulator(llm, records_per_request=2).simulate(
        "e", [first, second, first, second]
    )

    assert [s.expected for s in simulations] == [[1.0, 2.0], [10.0], [1.0, 2.0], [10.0]]
    assert len(chat_server.requests) == 2
    for body in chat_server.bodies:
        assert (
            "<record 1>\nx\n y\n</record 1>\n\n<record 2>\nz\n</record 2>" in body["messages"][-1]["content"]
        )


async def test_one_bad_block_fails_only_its_record(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(answer(record(1, [("x", certain(4))]), record(3, [("z", certain(1))])))
    first, second = await ChatLogprobSimulator(llm, records_per_request=2).simulate("e", [["x"], ["z"]])
    assert first.ok and first.expected == [4.0]
    assert second.status == "failed" and second.error == "the answer has no block <record 2>"


async def test_a_truncated_answer_says_so(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    block = record(1, [("The", certain(0)), (" cat", certain(3))])[:-1]  # no closing line
    chat_server.script(answer(block, finish_reason="length"))
    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])
    assert simulation.status == "failed"
    assert simulation.error == "token 2 (' sat'): no line of the answer stands for it (the answer was cut at max_tokens)"


async def test_an_llm_error_fails_the_records_of_its_request_and_does_not_raise(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    chat_server.script(Status(500), Status(500))  # max_retries=1: two attempts, then LLMError

    simulations = await ChatLogprobSimulator(llm, records_per_request=2).simulate("cats", [TOKENS, ["ok"]])

    assert [s.status for s in simulations] == ["failed", "failed"]
    assert [s.tokens for s in simulations] == [TOKENS, ["ok"]]
    for simulation in simulations:
        assert (simulation.error or "").startswith("LLM request failed:") and "500" in (
            simulation.error or ""
        )


def test_a_record_without_any_value_candidate_fails_rather_than_scoring_zeros() -> None:
    from tools.science.expected_value import value_distribution
    from tools.simulators.base import RecordSimulation

    empty, seven = value_distribution([(" lots", -0.1)]), value_distribution([("7", 0.0)])
    nothing = RecordSimulation.from_slots("chat-logprob", ["a", "b"], [empty, empty])
    assert not nothing.ok and nothing.error == "no value candidate among the top logprobs at any of 2 slots"
    partial = RecordSimulation.from_slots("chat-logprob", ["a", "b"], [empty, seven])
    assert partial.ok and partial.expected == [0.0, 7.0]
    assert partial.notes == ["1 of 2 slots had no value candidate (EV 0)"]
    assert partial.value_mass == 0.5  # the median of the slots' 0 and 1



async def test_an_open_models_answer_with_escaped_markers_fences_numbers_and_commentary_is_read(
    chat_server: ChatServer, llm: OpenAIChatLLM
) -> None:
    # What Qwen2.5-Coder-1.5B on llama.cpp writes, and what other small models add around it.
    pieces = [
        plain("Here are the values:\n```text\n&lt;record 1&gt;\n"),
        plain("1. The\t"), slot("0", GOLDEN_TOP), plain("\n\n"),
        plain("2. cat\t"), *certain(8), plain("\n(cats are what it likes)\n"),
        plain("3.  sat\t"), *certain(0), plain("\n```\nDone."),
    ]  # fmt: skip
    chat_server.script(answer(pieces))

    [simulation] = await ChatLogprobSimulator(llm).simulate("cats", [TOKENS])

    assert simulation.ok, simulation.error
    assert simulation.expected == pytest.approx([2.5, 8.0, 0.0])
    assert simulation.notes == ["1 of 3 tokens re-emitted with different whitespace or escaping"]
