"""The chat-highlight simulator: its reader (pure), and the simulator against the real client and a
loopback chat-completions server whose answers are scripted (the mock at the true edge)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.support.brain import brain_behaviour
from bench.support.chat_server import Answer, ChatServer, Respond
from tools.llm.openai_client import OpenAIChatLLM
from tools.simulators.base import Simulator
from tools.simulators.chat_highlight import (
    ChatHighlightSimulator,
    Highlight,
    mark_tokens,
    parse_highlights,
)
from tools.simulators.rendering import UnreadableAnswer

TOKENS = ["The", " blue", " car", " passed", " the", " Blue", "bird", " in", " New", " York", "shire", "."]


@pytest.mark.parametrize(
    ("line", "quote", "strength"),
    [
        ("blue\t9", "blue", 9.0),
        ("blue: 9", "blue", 9.0),
        ('"blue" 9', "blue", 9.0),
        ("- blue - 9", "blue", 9.0),
        ("1. blue (9)", "blue", 9.0),
        ("`blue` 9/10", "blue", 9.0),
        ("New York\t10", "New York", 10.0),
        ("3.95\t2.5", "3.95", 2.5),
        ("big-endian -> 7", "big-endian", 7.0),
    ],
)
def test_a_quote_line_in_the_forms_small_models_write(line: str, quote: str, strength: float) -> None:
    assert parse_highlights(line) == ([Highlight(quote, strength)], [])


def test_none_fences_and_skipped_lines() -> None:
    assert parse_highlights("None.") == ([], [])
    assert parse_highlights("```\nblue\t9\n```") == ([Highlight("blue", 9.0)], [])
    highlights, skipped = parse_highlights("Here you go:\nblue\t9\ncar\t11")
    assert highlights == [Highlight("blue", 9.0)]
    assert skipped == ["no quote and strength in 'Here you go:'", "strength 11 above 10 for 'car'"]


@pytest.mark.parametrize(("text", "reason"), [("", "an empty answer"), ("blue car", "no quote and strength in 'blue car'")])
def test_an_answer_with_no_quote_line_and_no_none_is_unreadable(text: str, reason: str) -> None:
    with pytest.raises(UnreadableAnswer, match=f"no quote line and no 'none' \\({reason}\\)"):
        parse_highlights(text)


def test_quotes_mark_every_whole_word_occurrence_and_overlaps_keep_the_largest() -> None:
    values, notes = mark_tokens(TOKENS, [Highlight("blue", 6.0), Highlight("blue car", 9.0), Highlight("red", 4.0)])
    # "blue" as a word: " blue"; the " Blue" of "Bluebird" is no whole word.
    assert values == [0, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert notes == ["1 quote(s) not in the text, ignored: 'red'"]


def test_case_is_ignored_and_part_of_a_word_is_the_fallback() -> None:
    # "the" is "The" and " the"; "york" is " York"; no whole word "bird", so "bird" inside "Bluebird".
    values, notes = mark_tokens(TOKENS, [Highlight("the", 2.0), Highlight("york", 8.0), Highlight("bird", 5.0)])
    assert values == [2, 0, 0, 0, 2, 0, 5, 0, 0, 8, 0, 0] and notes == []


async def test_a_cut_answer_drops_its_last_line_and_says_so(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(Answer("blue\t9\ncar\t1", finish_reason="length"), Answer("blue\t", finish_reason="length"))
    # One record per call: the two records of one call are asked concurrently, in either order.
    [simulation] = await ChatHighlightSimulator(llm).simulate("blue", [TOKENS])
    [failed] = await ChatHighlightSimulator(llm).simulate("blue", [TOKENS])
    assert simulation.ok and simulation.expected == [0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert simulation.notes == ["the answer was cut at max_tokens; its last line was dropped"]
    assert failed.status == "failed"
    assert failed.error == "no quote line and no 'none' (an empty answer) (the answer was cut at max_tokens)"


def test_is_a_simulator(llm: OpenAIChatLLM) -> None:
    assert isinstance(ChatHighlightSimulator(llm), Simulator) and ChatHighlightSimulator(llm).method == "chat-highlight"


async def test_one_request_per_record_sharing_everything_before_the_text(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    # The two records are asked concurrently, in either order: the same answer for both.
    chat_server.script(Answer("car\t7"), Answer("car\t7"))

    first, second = await ChatHighlightSimulator(llm).simulate("cars", [TOKENS, ["A", " cat"]])

    assert first.ok and first.method == "chat-highlight" and first.expected == [0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert first.distribution_values == [[v] for v in first.expected] and first.value_mass is None
    assert second.ok and second.expected == [0.0, 0.0]
    # Arrival order is not fixed: the body for TOKENS is the one whose text is not "A cat".
    one, two = sorted(chat_server.bodies, key=lambda body: "A cat" in body["messages"][-1]["content"])
    assert one["temperature"] == 0.0 and "logprobs" not in one and one["max_tokens"] == 2 * len(TOKENS) + 24
    assert one["messages"][:-1] == two["messages"][:-1]
    assert one["messages"][-1]["content"] == "Explanation: cars\n\n<text>\nThe blue car passed the Bluebird in New Yorkshire.\n</text>"
    shared = "Explanation: cars\n\n<text>\n"
    assert two["messages"][-1]["content"].startswith(shared) and two["messages"][-1]["content"] != one["messages"][-1]["content"]


async def test_a_failed_request_fails_only_its_record(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    def answer(body: dict[str, Any]) -> Answer:
        return Answer("I cannot help with that." if "A cat" in body["messages"][-1]["content"] else "blue\t9")

    chat_server.script(Respond(answer), Respond(answer))
    first, second = await ChatHighlightSimulator(llm).simulate("blue", [TOKENS, ["A", " cat"]])
    assert first.ok and second.status == "failed"
    assert second.error == "no quote line and no 'none' (no quote and strength in 'I cannot help with that.')"


async def test_the_fake_brain_reads_its_named_tokens(chat_server: ChatServer, llm: OpenAIChatLLM) -> None:
    chat_server.script(Respond(brain_behaviour("unused")), Respond(brain_behaviour("unused")))
    first, second = await ChatHighlightSimulator(llm).simulate('the word "car"', [TOKENS, ["A", " cat"]])
    assert first.expected == [0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0] and second.expected == [0.0, 0.0]
