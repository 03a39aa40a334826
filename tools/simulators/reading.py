"""Pure functions: a chat-logprob simulator's answer read back, per record, tolerant of what real models write.

Open models rarely write the format exactly as asked. Measured with Qwen2.5-Coder-1.5B on
llama.cpp: HTML-escaped markers (`&lt;record 1&gt;`). Reported by users of other tools: code
fences, numbered lines, a missing closing marker, commentary between lines, tokens re-emitted
with different spacing or escaping. The reader here accepts all of these, and stays exact where
it matters: a record is read only when every one of its tokens maps to exactly one answer line.

1. Blocks: a line holding only a record marker opens or closes a block; the marker may be
   HTML-escaped, re-cased, spaced, wrapped in backticks or asterisks. A block ends at its closing
   marker, at the next opening marker, or at the end of the answer (a missing close is tolerated:
   alignment tells whether anything is missing). Fence lines are skipped. An answer without any
   opening marker is read as the block of record 1 when one record was asked for.
2. Lines: a value line is `key<TAB>value` (the last tab; without a tab, the last run of spaces).
   Blank lines and lines without a separator are skipped: they are commentary. In the copy
   format a numbered line (`1. `, `2) `, `3<TAB>`) loses its number when the line as a whole is
   none of the record's tokens and the rest of it is one.
3. Alignment: the record's keys (its tokens, or its line numbers) are matched to the lines' keys
   by sequence matching (difflib, no junk heuristic). Tokens compare by `token_key`: whitespace
   removed, HTML entities decoded, a doubled backslash read as one. Every token must be matched,
   and no other line between its neighbours' lines may carry its key (else the line standing for
   it is ambiguous); otherwise the record fails with the first such reason. Commentary that
   happens to end with a number matches no token and is left over, harmless.

A line's value is not checked here beyond being found: the caller reads the generated token at
`value_offset`, which must be a value token, so "10.14" or " 7" fail there with a reason.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from tools.fences import is_fence_line
from tools.prompting import escape_token
from tools.simulators.rendering import UnreadableAnswer

_MARKER = re.compile(
    r"[\s`*_#]*(?:<|&lt;|&#0*60;)\s*(/)?\s*record\s*#?\s*(\d+)\s*(?:>|&gt;|&#0*62;)[\s`*_:]*",
    re.IGNORECASE,
)
_NUMBERING = re.compile(r"\s*(\d+)(?:\s*[.):]\s?|\t)")
_NUMBERED_LINE = re.compile(r"\s*(\d+)\s*[.):]?(?=\s)")
_SPACES = re.compile(r"\s+")
_VALUE = re.compile(r"10|[0-9]")
_LAST_FIELD = re.compile(r"(?:(?<=\S)|^)( +)(\S+)$")


@dataclass(frozen=True)
class AnswerLine:
    """One value line of a block: what names its slot, and where its value starts."""

    key: str
    """The token as the model wrote it (copy format) or the line's number (numbered format)."""
    value: str
    """The value text as written after the separator, trailing whitespace removed."""
    value_offset: int
    """Character offset of the value in the answer text: where its value slot starts."""


@dataclass(frozen=True)
class Reading:
    """One record read back: its answer line per token, or why it cannot be read."""

    lines: list[AnswerLine] | None
    error: str | None = None
    respaced: int = 0
    """Tokens re-emitted with different whitespace or escaping (copy format)."""


@dataclass(frozen=True)
class _Line:
    text: str
    offset: int


@functools.lru_cache(maxsize=1 << 16)
def token_key(text: str) -> str:
    """What must be equal for a re-emitted token to stand for a real one (both in escaped form).

    Cached: a sweep reads the same few thousand token strings in every answer."""
    return _SPACES.sub("", html.unescape(text)).replace("\\\\", "\\")


def _lines(text: str) -> list[_Line]:
    lines, offset = [], 0
    for raw in text.split("\n"):
        lines.append(_Line(raw, offset))
        offset += len(raw) + 1
    return lines


def _find_blocks(text: str) -> tuple[dict[int, list[_Line]], dict[int, str]]:
    """Each record's lines (fences dropped, blank lines kept), and the records whose block cannot
    be used (it appears twice), by number."""
    blocks: dict[int, list[_Line]] = {}
    problems: dict[int, str] = {}
    current: list[_Line] | None = None
    for line in _lines(text):
        if (marker := _MARKER.fullmatch(line.text)) is not None:
            closing, number = marker.group(1), int(marker.group(2))
            if closing:
                current = None
                continue
            if number in blocks:
                problems[number] = f"block <record {number}> appears twice"
            current = blocks[number] = []
            continue
        if current is not None and not is_fence_line(line.text):
            current.append(line)
    return blocks, problems


def _value_line(line: _Line, start: int = 0) -> AnswerLine | None:
    """`key<TAB>value` from `start` on in the line; None for a line without a separator.

    After a tab the value is kept as written (" 7" is not a value token); without a tab the
    spaces before the last field are the separator."""
    body = line.text[start:].rstrip("\r")
    key, tab, value = body.rpartition("\t")
    separator = len(tab)
    if not tab:
        spaced = _LAST_FIELD.search(body)
        if spaced is None:
            return None
        key, value, separator = body[: spaced.start()], spaced.group(2), len(spaced.group(1))
    return AnswerLine(key, value.rstrip(), line.offset + start + len(key) + separator)


def _copied_lines(lines: Sequence[_Line], token_keys: set[str]) -> list[AnswerLine]:
    """The block's value lines; a line numbered `1. ` loses its number when that turns it into
    one of the record's tokens (and the whole line is none of them)."""
    read = []
    for line in lines:
        whole = _value_line(line)
        numbering = _NUMBERING.match(line.text)
        if numbering is not None and (whole is None or token_key(whole.key) not in token_keys):
            unnumbered = _value_line(line, numbering.end())
            if unnumbered is not None and token_key(unnumbered.key) in token_keys:
                whole = unnumbered
        if whole is not None:
            read.append(whole)
    return read


def _numbered_lines(lines: Sequence[_Line]) -> list[AnswerLine]:
    """`N<TAB>value` lines (a copied token between them is tolerated); the key is N."""
    read = []
    for line in lines:
        number = _NUMBERED_LINE.match(line.text)
        if number is None:
            continue
        value = _value_line(line, number.end())
        if value is not None and value.value:
            read.append(AnswerLine(number.group(1), value.value, value.value_offset))
    return read


def align(keys: Sequence[str], written: Sequence[str], label: Callable[[int], str], shown: Sequence[str]) -> list[int]:
    """For each of `keys`, the index of the `written` key that stands for it, by sequence matching.

    `label(i)` names slot i and `shown` the written lines as they read, for the messages. Raises
    `UnreadableAnswer` naming the first slot that no line stands for, or for which another line
    between its neighbours' lines would do as well."""
    keys, written = list(keys), list(written)
    if keys == written:
        # What a model that follows the format writes; the matching below would map each key to
        # its own line and find nothing ambiguous.
        return list(range(len(keys)))
    matcher = SequenceMatcher(None, keys, written, autojunk=False)
    mapped: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            mapped.update(zip(range(i1, i2), range(j1, j2), strict=True))
        elif tag == "replace" and i2 - i1 == j2 - j1:
            raise UnreadableAnswer(f"{label(i1)}: re-emitted as {shown[j1]!r}")
        elif tag in ("replace", "delete"):
            raise UnreadableAnswer(f"{label(i1)}: no line of the answer stands for it")
    indices = [mapped[i] for i in range(len(keys))]
    bounds = [-1, *indices, len(written)]
    for i, key in enumerate(keys):
        others = [j for j in range(bounds[i] + 1, bounds[i + 2]) if j != indices[i] and written[j] == key]
        if others:
            raise UnreadableAnswer(f"{label(i)}: written on {len(others) + 1} lines")
    return indices


def _numbered_label(tokens: Sequence[str], index: int) -> str:
    return f"token {index} ({escape_token(tokens[index])!r}, line {index + 1})"


def _checked(slots: list[AnswerLine], label: Callable[[int], str]) -> list[AnswerLine]:
    for index, line in enumerate(slots):
        if _VALUE.fullmatch(line.value) is None:
            raise UnreadableAnswer(f"{label(index)}: value {line.value!r} is not a whole number 0-10")
    return slots


def _block(number: int, n_records: int, blocks: dict[int, list[_Line]], problems: dict[int, str], text: str) -> list[_Line]:
    if number in problems:
        raise UnreadableAnswer(problems[number])
    if number in blocks:
        return blocks[number]
    if not blocks and n_records == 1:
        return [line for line in _lines(text) if not is_fence_line(line.text)]
    raise UnreadableAnswer(f"the answer has no block <record {number}>")


def read_copied(text: str, records: Sequence[Sequence[str]]) -> list[Reading]:
    """Copy format: each block re-emits its record's tokens, one `token<TAB>value` line each."""
    blocks, problems = _find_blocks(text)
    readings = []
    for number, tokens in enumerate(records, start=1):
        shown = [escape_token(token) for token in tokens]
        label = functools.partial(_copied_label, shown)
        try:
            token_keys = [token_key(token) for token in shown]
            lines = _copied_lines(_block(number, len(records), blocks, problems, text), set(token_keys))
            keys = [token_key(line.key) for line in lines]
            indices = align(token_keys, keys, label, [line.key for line in lines])
            slots = _checked([lines[j] for j in indices], label)
        except UnreadableAnswer as err:
            readings.append(Reading(None, str(err)))
            continue
        respaced = sum(line.key != token for line, token in zip(slots, shown, strict=True))
        readings.append(Reading(slots, respaced=respaced))
    return readings


def _copied_label(shown: Sequence[str], index: int) -> str:
    return f"token {index} ({shown[index]!r})"


def read_numbered(text: str, records: Sequence[Sequence[str]]) -> list[Reading]:
    """Numbered format: each block holds `N<TAB>value` for N = 1 .. the record's token count."""
    blocks, problems = _find_blocks(text)
    readings = []
    for number, tokens in enumerate(records, start=1):
        label = functools.partial(_numbered_label, tokens)
        try:
            lines = _numbered_lines(_block(number, len(records), blocks, problems, text))
            keys = [str(n) for n in range(1, len(tokens) + 1)]
            written = [line.key for line in lines]
            slots = _checked([lines[j] for j in align(keys, written, label, written)], label)
        except UnreadableAnswer as err:
            readings.append(Reading(None, str(err)))
            continue
        readings.append(Reading(slots))
    return readings
