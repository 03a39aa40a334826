"""The tolerant reader of chat-logprob answers: blocks, lines, alignment, each rule on its own."""

from __future__ import annotations

import pytest

from tools.simulators.reading import UnreadableAnswer, align, read_copied, read_numbered, token_key

TOKENS = ["The", " cat", " sat"]


def values(text: str, records: list[list[str]], numbered: bool = False) -> list[list[str] | str]:
    """Per record, the values read (as written), or the error."""
    readings = (read_numbered if numbered else read_copied)(text, records)
    out: list[list[str] | str] = []
    for reading in readings:
        if reading.lines is None:
            out.append(reading.error or "")
            continue
        for line in reading.lines:  # each offset points at its value in the text
            assert text[line.value_offset : line.value_offset + len(line.value)] == line.value
        out.append([line.value for line in reading.lines])
    return out


@pytest.mark.parametrize(
    "text",
    [
        "<record 1>\nThe\t0\n cat\t7\n sat\t1\n</record 1>",
        "&lt;record 1&gt;\nThe\t0\n cat\t7\n sat\t1\n&lt;/record 1&gt;",
        "<Record 1>\nThe\t0\n cat\t7\n sat\t1\n</RECORD 1>",
        "`< record 1 >`\nThe\t0\n cat\t7\n sat\t1\n**</record 1>**",
        "```text\n<record 1>\nThe\t0\n cat\t7\n sat\t1\n</record 1>\n```",
        "<record 1>\n```\nThe\t0\n cat\t7\n sat\t1\n```\n</record 1>",
        "<record 1>\n1. The\t0\n2.  cat\t7\n3)  sat\t1\n</record 1>",
        "<record 1>\nThe\t0\n cat\t7\n sat\t1",
        "Sure:\n\n<record 1>\nThe\t0\n\n(cats!)\n cat\t7\n sat\t1\n</record 1>\nHope this helps, 100",
        "<record 1>\nthe\t0\n  cat \t7\nsat\t1\n</record 1>".replace("the", "The"),
        "<record 1>\nThe 0\n cat 7\n sat 1\n</record 1>",
        "The\t0\n cat\t7\n sat\t1\n",
    ],
    ids=["clean", "escaped", "recased", "wrapped", "fenced", "fenced-inside", "numbered", "not-closed",
         "commentary", "respaced", "spaces", "no-markers"],
)
def test_what_models_write_is_read(text: str) -> None:
    assert values(text, [TOKENS]) == [["0", "7", "1"]]


def test_escaped_tokens_and_backslashes_compare_decoded() -> None:
    tokens = [" <", "b", ">", " &", "back\\slash", "\n"]
    text = "<record 1>\n &lt;\t1\nb\t2\n&gt;\t3\n &amp;\t4\nback\\slash\t5\n\\n\t6\n</record 1>"
    assert values(text, [tokens]) == [["1", "2", "3", "4", "5", "6"]]
    [reading] = read_copied(text, [tokens])
    assert reading.respaced == 4  # escaped differently: ' <', '>', ' &', the single backslash


def test_a_missing_close_ends_at_the_next_block() -> None:
    text = "<record 1>\nx\t1\n<record 2>\ny\t2\n</record 2>"
    assert values(text, [["x"], ["y"]]) == [["1"], ["2"]]


def test_numbers_stay_when_they_are_the_tokens() -> None:
    assert values("<record 1>\n1\t0\n2\t5\n</record 1>", [["1", "2"]]) == [["0", "5"]]
    assert values("<record 1>\n1.  42\t3\n2. 7\t5\n</record 1>", [[" 42", "7"]]) == [["3", "5"]]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<record 1>\nThe\t0\n dog\t7\n sat\t1\n</record 1>", "token 1 (' cat'): re-emitted as ' dog'"),
        ("<record 1>\nThe\t0\n sat\t1\n</record 1>", "token 1 (' cat'): no line of the answer stands for it"),
        ("<record 1>\nThe\t0\n cat\t7\n cat\t2\n sat\t1\n</record 1>", "token 1 (' cat'): written on 2 lines"),
        ("<record 1>\nThe\t0\n cat\t10.14\n sat\t1\n</record 1>", "token 1 (' cat'): value '10.14' is not a whole number 0-10"),
        ("<record 1>\nThe\t0\n cat\t 7\n sat\t1\n</record 1>", "value ' 7' is not a whole number 0-10"),
        ("<record 1>\nThe\t0\n cat\t11\n sat\t1\n</record 1>", "value '11' is not a whole number 0-10"),
        ("<record 1>\nThe\t0\n</record 1>\n<record 1>\nThe\t0\n</record 1>", "block <record 1> appears twice"),
        ("<record 2>\nThe\t0\n cat\t7\n sat\t1\n</record 2>", "the answer has no block <record 1>"),
    ],
)
def test_what_cannot_be_read_fails_with_the_reason(text: str, error: str) -> None:
    [got] = values(text, [TOKENS])
    assert isinstance(got, str) and error in got


def test_without_markers_only_a_single_record_is_read() -> None:
    assert values("x\t1\ny\t2", [["x"], ["y"]]) == [f"the answer has no block <record {n}>" for n in (1, 2)]


def test_repeated_tokens_map_in_order_and_one_extra_copy_is_ambiguous() -> None:
    tokens = [" the", " the", " cat", " the"]
    assert values("<record 1>\n the\t1\n the\t2\n cat\t3\n the\t4\n</record 1>", [tokens]) == [["1", "2", "3", "4"]]
    [error] = values("<record 1>\n the\t1\n the\t2\n the\t9\n cat\t3\n the\t4\n</record 1>", [tokens])
    assert "written on 2 lines" in error


def test_token_key_ignores_whitespace_and_html_escapes_only() -> None:
    assert token_key(" &lt;b&gt; ") == token_key("<b>") == "<b>"
    assert token_key("\\\\n") == token_key("\\n") != token_key("\\t")
    assert token_key("The") != token_key("the")


def test_align_maps_keys_by_sequence_and_names_the_failing_slot() -> None:
    assert align(["a", "b", "c"], ["x", "a", "b", "y", "c"], "ABC".__getitem__, []) == [1, 2, 4]
    with pytest.raises(UnreadableAnswer, match="B: no line of the answer stands for it"):
        align(["a", "b", "c"], ["a", "c"], "ABC".__getitem__, ["a", "c"])


@pytest.mark.parametrize(
    "text",
    [
        "<record 1>\n1\t0\n2\t7\n3\t1\n</record 1>",
        "&lt;record 1&gt;\n```\n1\t0\n2\t7\n3\t1\n```",
        "<record 1>\n1. 0\n2. 7\n\nthe cat is it\n3. 1\n</record 1>",
        "<record 1>\n1\tThe\t0\n2\t cat\t7\n3\t sat\t1\n</record 1>",
        "1\t0\n2\t7\n3\t1",
    ],
    ids=["clean", "escaped-fenced-unclosed", "dotted-commentary", "copied-tokens", "no-markers"],
)
def test_numbered_answers_are_read_by_line_number(text: str) -> None:
    assert values(text, [TOKENS], numbered=True) == [["0", "7", "1"]]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<record 1>\n1\t0\n3\t1\n</record 1>", "token 1 (' cat', line 2): no line of the answer stands for it"),
        ("<record 1>\n1\t0\n2\t7\n2\t3\n3\t1\n</record 1>", "line 2): written on 2 lines"),
        ("<record 1>\n1\t0\n2\t7.5\n3\t1\n</record 1>", "value '7.5' is not a whole number 0-10"),
    ],
)
def test_numbered_answers_that_cannot_be_read(text: str, error: str) -> None:
    [got] = values(text, [TOKENS], numbered=True)
    assert isinstance(got, str) and error in got
