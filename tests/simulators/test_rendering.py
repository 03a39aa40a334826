"""The pure prompt builders and answer parsers of the simulators."""

from __future__ import annotations

import pytest

from tools.simulators.rendering import (
    PLACEHOLDER,
    EmittedLine,
    UnreadableAnswer,
    align_emitted,
    all_at_once_prompt,
    chat_json_values,
    json_record_values,
    parse_emitted,
    parse_json_answer,
    record_block,
    slot_token_indices,
)


def test_record_block_escapes_tokens_so_each_stays_one_line() -> None:
    assert record_block(2, [" a", "\n", "b\tc", "d\\"]) == "<record 2>\n a\n\\n\nb\\tc\nd\\\\\n</record 2>"


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


def test_parse_emitted_reads_blocks_with_value_offsets_and_ignores_chatter() -> None:
    text = "Sure!\n<record 1>\n a\t0\n\nb\t10\r\n</record 1>\n<record 2>\nc\t3\n</record 2>"
    emitted = parse_emitted(text)
    assert emitted.problems == {}
    [a, b] = emitted.lines(1)
    assert (a.token, a.value, text[a.value_offset]) == (" a", "0", "0")
    assert (b.token, b.value, text[b.value_offset : b.value_offset + 2]) == ("b", "10", "10")
    assert [line.token for line in emitted.lines(2)] == ["c"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<record 1>\na\t0\n", "block <record 1> is not closed"),
        ("<record 1>\na\t0\n<record 2>\nb\t1\n</record 2>", "block <record 1> is not closed"),
        ("<record 1>\na\t0\n</record 2>", "block <record 1> is closed by </record 2>"),
        ("<record 1>\na\t0\n</record 1>\n<record 1>\na\t1\n</record 1>", "block <record 1> appears twice"),
        ("<record 1>\na 0\n</record 1>", "record 1: line 'a 0' has no tab"),
        ("nothing here", "the answer has no block <record 1>"),
    ],
)
def test_parse_emitted_problems(text: str, problem: str) -> None:
    with pytest.raises(UnreadableAnswer, match=problem):
        parse_emitted(text).lines(1)


def line(token: str, value: str = "0") -> EmittedLine:
    return EmittedLine(token, value, 0)


def test_alignment_compares_escaped_tokens_and_tolerates_only_surrounding_whitespace() -> None:
    assert align_emitted([" a", "\n", "b "], [line(" a"), line("\\n"), line("b ")]) == 0
    assert align_emitted([" a", "b "], [line("a"), line("b")]) == 2
    with pytest.raises(UnreadableAnswer, match="token 1: re-emitted 'B', expected 'b'"):
        align_emitted(["a", "b"], [line("a"), line("B")])
    with pytest.raises(UnreadableAnswer, match="token 0: re-emitted '\\\\\\\\n', expected '\\\\\\\\t'"):
        align_emitted(["\t"], [line("\\n")])
    with pytest.raises(UnreadableAnswer, match="value '11' is not a whole number 0-10"):
        align_emitted(["a"], [line("a", "11")])
    with pytest.raises(UnreadableAnswer, match="re-emitted 1 lines for 2 tokens"):
        align_emitted(["a", "b"], [line("a")])


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
