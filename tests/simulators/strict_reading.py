"""The chat-logprob reader as it was before issue 13, kept as the baseline the answer corpus must beat.

Exact `<record N>` markers, one `token<TAB>value` line per token, compared in order, one to one;
only surrounding whitespace of a token is forgiven. It is not used by the product: the corpus test
swaps it in for `reading.read_copied` to show that the tolerant reader is what makes it pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tools.prompting import escape_token
from tools.simulators.reading import AnswerLine, Reading

_OPEN = re.compile(r"<record (\d+)>")
_CLOSE = re.compile(r"</record (\d+)>")
_VALUE = re.compile(r"10|[0-9]")


def _blocks(text: str) -> tuple[dict[int, list[AnswerLine]], dict[int, str]]:
    blocks: dict[int, list[AnswerLine]] = {}
    problems: dict[int, str] = {}
    current: int | None = None
    offset = 0
    for line in text.split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        stripped = line.strip()
        if (opened := _OPEN.fullmatch(stripped)) is not None:
            if current is not None:
                problems[current] = f"block <record {current}> is not closed"
            current = int(opened.group(1))
            if current in blocks:
                problems[current] = f"block <record {current}> appears twice"
            blocks[current] = []
            continue
        if current is None:
            continue
        if (closed := _CLOSE.fullmatch(stripped)) is not None:
            if int(closed.group(1)) != current:
                problems[current] = f"block <record {current}> is closed by </record {closed.group(1)}>"
            current = None
            continue
        if not stripped:
            continue
        token, tab, value = line.rpartition("\t")
        if not tab:
            problems.setdefault(current, f"record {current}: line {line!r} has no tab")
            continue
        blocks[current].append(AnswerLine(token, value.rstrip(), line_start + len(token) + 1))
    if current is not None:
        problems.setdefault(current, f"block <record {current}> is not closed")
    return blocks, problems


def _aligned(tokens: Sequence[str], lines: Sequence[AnswerLine]) -> Reading:
    if len(lines) != len(tokens):
        return Reading(None, f"re-emitted {len(lines)} lines for {len(tokens)} tokens")
    respaced = 0
    for index, (token, line) in enumerate(zip(tokens, lines, strict=True)):
        shown = escape_token(token)
        if line.key != shown:
            if line.key.strip() != shown.strip():
                return Reading(None, f"token {index}: re-emitted {line.key!r}, expected {shown!r}")
            respaced += 1
        if _VALUE.fullmatch(line.value) is None:
            return Reading(None, f"token {index} ({shown!r}): value {line.value!r} is not a whole number 0-10")
    return Reading(list(lines), respaced=respaced)


def read_strict(text: str, records: Sequence[Sequence[str]]) -> list[Reading]:
    blocks, problems = _blocks(text)
    readings = []
    for number, tokens in enumerate(records, start=1):
        if number in problems:
            readings.append(Reading(None, problems[number]))
        elif number not in blocks:
            readings.append(Reading(None, f"the answer has no block <record {number}>"))
        else:
            readings.append(_aligned(tokens, blocks[number]))
    return readings
