"""tools/fences.py: the one definition of a code fence that the simulators' and the prober's answer readers share."""

from __future__ import annotations

import pytest

from tools.fences import first_fenced, is_fence_line, without_fences


@pytest.mark.parametrize("line", ["```", "```json", "  ```text", "~~~", "~~~python", "\t```"])
def test_fence_lines(line: str) -> None:
    assert is_fence_line(line)


@pytest.mark.parametrize("line", ["cat\t7", "a ``` inside", "``", "~~", ""])
def test_other_lines(line: str) -> None:
    assert not is_fence_line(line)


def test_markers_and_info_strings_are_taken_out_wherever_they_stand() -> None:
    assert without_fences('```json\n{"records": [[1]]}\n```') == '\n{"records": [[1]]}\n'
    assert without_fences('Here: ```json{"records": []}``` done') == 'Here: {"records": []} done'
    assert without_fences("~~~\nx\n~~~") == "\nx\n"


def test_the_first_closed_fence_is_read() -> None:
    assert first_fenced('Sure {not this}:\n```json\n{"a": 1}\n```\nand ```{"b": 2}```') == '{"a": 1}\n'
    assert first_fenced("~~~ \n{}\n~~~") == "{}\n"
    assert first_fenced("```json\n{} never closed") is None
    assert first_fenced("```\nmixed\n~~~") is None  # a fence closes with its own marker
    assert first_fenced("no fence") is None
