"""The pure prompt builders and answer parsers of the simulators."""

from __future__ import annotations

import pytest

from tools.simulators.rendering import (
    PLACEHOLDER,
    UnreadableAnswer,
    all_at_once_prompt,
    chat_json_values,
    json_record_values,
    numbered_record_block,
    parse_json_answer,
    record_block,
    slot_token_indices,
)


def test_record_block_escapes_tokens_so_each_stays_one_line() -> None:
    assert record_block(2, [" a", "\n", "b\tc", "d\\"]) == "<record 2>\n a\n\\n\nb\\tc\nd\\\\\n</record 2>"


def test_numbered_record_block_numbers_lines_from_one() -> None:
    assert numbered_record_block(1, [" a", "\n"]) == "<record 1>\n1\t a\n2\t\\n\n</record 1>"


def test_json_counts_are_spelled_per_record() -> None:
    assert (
        chat_json_values("e", [["a", "b"], ["c"]])["counts"] == "Record 1 has 2 tokens; record 2 has 1 token."
    )


def test_all_at_once_slots_point_at_each_placeholder_whatever_the_explanation_says() -> None:
    tricky = "tabs\tunknown and $dollars\n<start>\nx\tunknown"
    prompt = all_at_once_prompt(tricky, ["a", " b\n", "\t"])
    assert [prompt.text[s - 1 : s + len(PLACEHOLDER)] for s in prompt.slots] == [f"\t{PLACEHOLDER}"] * 3
    assert prompt.text.endswith("a\tunknown\n b\\n\tunknown\n\\t\tunknown\n<end>")
    assert tricky in prompt.text


def test_json_answers() -> None:
    assert parse_json_answer('```json\n{"records": [[1, 2]]}\n```', 1) == [[1, 2]]
    assert parse_json_answer('{"records": [1, 2]}', 1) == [[1, 2]]
    with pytest.raises(UnreadableAnswer, match="expected 2 record lists, got 1"):
        parse_json_answer('{"records": [[1, 2]]}', 2)
    assert json_record_values([0, 10], 2) == [0, 10]
    with pytest.raises(UnreadableAnswer, match="outside 0-10"):
        json_record_values([0, 12], 2)


def test_slot_indices_align_from_the_end() -> None:
    prompt = "Intro \u00e9.\nx\tunknown\ny\tunknown"
    slots = [prompt.index("unknown"), prompt.rindex("unknown")]
    pieces = [
        "Intro",
        " ",
        "?",
        ".",
        "\n",
        "x",
        "\t",
        "unknown",
        "\n",
        "y",
        "\t",
        "unknown",
    ]  # é decoded lossily
    assert slot_token_indices(prompt, slots, "<s>", pieces) == [7, 11]
    with pytest.raises(UnreadableAnswer, match="does not start a prompt token"):
        slot_token_indices(prompt, slots, "", [*pieces[:10], "\tunknown"])
    with pytest.raises(UnreadableAnswer, match="do not spell the prompt"):
        slot_token_indices(prompt, slots, "", [*pieces[:9], "z", "\t", "unknown"])
    assert slot_token_indices(prompt, [], "", []) == []
