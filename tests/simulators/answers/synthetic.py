"""Synthetic chat-logprob answers, one per failure class and base record, as a recording would store them.

Each answer is written the way a chat model would stream it: markers, token text and separators
as certain tokens, and each value as one generated token whose top candidates are the written
value (p = .8) and a neighbour (p = .2), so its true expected value is known without the reader:
0.8 v + 0.2 w. A class marked unrecoverable must fail every record of the answer with its reason.
`answers.jsonl` is this module's output (see test_answers.py: regenerate it with
REFINERY_UPDATE_GOLDENS=1); recordings of real models go next to it in the same format.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tools.prompting import escape_token

BASE: list[tuple[list[str], list[int]]] = [
    (["The", " sky", " turned", " a", " deep", " orange", "."], [0, 0, 0, 0, 1, 9, 0]),
    (["if", " x", " <", " 10", ":", "\n", "   ", " return", " x", " &", " y"], [0, 0, 8, 0, 0, 0, 0, 0, 0, 6, 0]),
    ([" the", " the", " cat", " the"], [3, 0, 10, 2]),
    (["I", " said", ' "', "hello", '"', " twice", "\t", "back\\slash"], [0, 2, 0, 7, 0, 0, 0, 4]),
    (["<", "b", ">", "bold", "</", "b", ">"], [5, 5, 5, 10, 1, 1, 1]),
    ([" 42", " +", " 7", " =", " 49"], [5, 0, 5, 0, 6]),
]


@dataclass
class Line:
    """One answer line: its key (the token as written, or the line number), separator and value."""

    key: str
    value: str
    separator: str = "\t"
    prefix: str = ""


@dataclass
class Block:
    number: int
    lines: list[Line]
    open: str = "<record {n}>"
    close: str | None = "</record {n}>"
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    inside: dict[int, str] = field(default_factory=dict)
    """Extra lines (commentary, blank) inserted before the value line of that index."""


def _top(value: int) -> list[tuple[str, float]]:
    other = value - 1 if value > 0 else 1
    return [(str(value), math.log(0.8)), (str(other), math.log(0.2))]


def truth(values: Sequence[int]) -> list[float]:
    return [0.8 * v + 0.2 * (v - 1 if v > 0 else 1) for v in values]


def pieces(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """The generated tokens: every value line's value is one token with its top candidates."""
    out: list[dict[str, Any]] = []

    def plain(text: str) -> None:
        # Certain text runs are one piece: only where values start matters to the reader.
        if out and "top" not in out[-1]:
            out[-1]["token"] += text
        else:
            out.append({"token": text, "logprob": 0.0})

    for block in blocks:
        for text in block.before:
            plain(text + "\n")
        plain(block.open.format(n=block.number) + "\n")
        for index, line in enumerate(block.lines):
            if index in block.inside:
                plain(block.inside[index] + "\n")
            plain(line.prefix + line.key + line.separator)
            if line.value.isdigit() and int(line.value) <= 10:
                value = int(line.value)
                out.append({"token": line.value, "logprob": math.log(0.8),
                            "top": [{"token": t, "logprob": lp} for t, lp in _top(value)]})
            else:  # "10.14": the first digits are the generated value token, the rest plain
                head = line.value.split(".")[0]
                out.append({"token": head, "logprob": math.log(0.8),
                            "top": [{"token": t, "logprob": lp} for t, lp in _top(int(head))]})
                plain(line.value[len(head):])
            plain("\n")
        if block.close is not None:
            plain(block.close.format(n=block.number) + "\n")
        for text in block.after:
            plain(text + "\n")
    return out


def copied(number: int, tokens: Sequence[str], values: Sequence[int]) -> Block:
    return Block(number, [Line(escape_token(t), str(v)) for t, v in zip(tokens, values, strict=True)])


def numbered(number: int, tokens: Sequence[str], values: Sequence[int]) -> Block:
    return Block(number, [Line(str(i), str(v)) for i, v in enumerate(values, start=1)])


Variant = Callable[[Block], Block]


def _lines(block: Block, change: Callable[[int, Line], Line]) -> Block:
    return replace(block, lines=[change(i, line) for i, line in enumerate(block.lines)])


def escaped_markers(block: Block) -> Block:
    """Qwen2.5-Coder on llama.cpp: markers and tokens HTML-escaped."""
    return _lines(replace(block, open="&lt;record {n}&gt;", close="&lt;/record {n}&gt;"),
                  lambda _, line: replace(line, key=html.escape(line.key, quote=False)))


def recased_markers(block: Block) -> Block:
    shapes = [("<Record {n}>", "</Record {n}>"), ("<RECORD {n}>", "</RECORD {n}>"), ("< record {n} >", "</ record {n} >")]
    opened, closed = shapes[block.number % len(shapes)]
    return replace(block, open=opened, close=closed)


def fenced(block: Block) -> Block:
    return replace(block, before=["```text"], after=["```"])


def numbered_lines(block: Block) -> Block:
    return _lines(block, lambda i, line: replace(line, prefix=f"{i + 1}. "))


def missing_close(block: Block) -> Block:
    return replace(block, close=None)


def commentary(block: Block) -> Block:
    inside = {i: "" for i in range(2, len(block.lines), 3)}
    inside[len(block.lines) // 2] = "(this token is where the neuron starts to care)"
    return replace(block, before=["Sure! Here are the activations:", "", *block.before],
                   after=[*block.after, "", "Let me know if you need more."], inside=inside)


def respaced(block: Block) -> Block:
    """Leading spaces dropped or doubled, a trailing space added, backslashes not doubled."""
    def change(i: int, line: Line) -> Line:
        key = line.key.replace("\\\\", "\\")
        key = [key.lstrip(), "  " + key.lstrip(), key + " "][i % 3] if key.strip() else key
        return replace(line, key=key)
    return _lines(block, change)


def all_zeros(block: Block) -> Block:
    return _lines(block, lambda _, line: replace(line, value="0"))


def combined(block: Block) -> Block:
    """What a small coder model tends to write: all of the above at once."""
    return commentary(fenced(numbered_lines(escaped_markers(block))))


def decimal_value(block: Block) -> Block:
    return _lines(block, lambda i, line: replace(line, value="10.14") if i == 1 else line)


def substituted_token(block: Block) -> Block:
    return _lines(block, lambda i, line: replace(line, key=" something") if i == 1 else line)


def repeated_line(block: Block) -> Block:
    return replace(block, lines=[*block.lines[:2], replace(block.lines[1], value="3"), *block.lines[2:]])


def skipped_line(block: Block) -> Block:
    return replace(block, lines=block.lines[:1] + block.lines[2:])


def copied_tokens(tokens: Sequence[str]) -> Variant:
    """Numbered format, but the model copies each token between number and value."""
    return lambda block: _lines(block, lambda i, line: replace(line, key=f"{line.key}\t{escape_token(tokens[i])}"))


def dotted_numbers(block: Block) -> Block:
    return _lines(block, lambda _, line: replace(line, key=line.key + ".", separator=" "))


RECOVERABLE: dict[str, Variant] = {
    "clean": lambda block: block,
    "escaped-markers": escaped_markers,
    "recased-markers": recased_markers,
    "fenced": fenced,
    "numbered-lines": numbered_lines,
    "missing-close": missing_close,
    "commentary": commentary,
    "respaced-tokens": respaced,
    "all-zeros": all_zeros,
    "combined": combined,
}
UNRECOVERABLE: dict[str, tuple[Variant, str]] = {
    "decimal-value": (decimal_value, "value '10.14' is not a whole number 0-10"),
    "substituted-token": (substituted_token, "re-emitted as ' something'"),
    "repeated-line": (repeated_line, "written on 2 lines"),
    "skipped-line": (skipped_line, "no line of the answer stands for it"),
}
NUMBERED_RECOVERABLE: dict[str, Variant] = {
    "clean": lambda block: block,
    "escaped-markers": escaped_markers,
    "fenced": fenced,
    "missing-close": missing_close,
    "commentary": commentary,
    "dotted-numbers": dotted_numbers,
    "all-zeros": all_zeros,
}
# Numbered answers copy no token, so a substituted token cannot happen there; every other failure can.
NUMBERED_UNRECOVERABLE: dict[str, tuple[Variant, str]] = {k: v for k, v in UNRECOVERABLE.items() if k != "substituted-token"}


def _entry(name: str, method: str, blocks: Sequence[Block], records: Sequence[tuple[list[str], list[int]]],
           reason: str | None, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "name": name, "source": "synthetic", "method": method, "finish_reason": finish_reason,
        "records": [tokens for tokens, _ in records],
        # A recoverable block has one line per token, in order: its written values are the truth.
        "truth": [None if reason else truth([int(line.value) for line in block.lines]) for block in blocks],
        "reason": [reason] * len(records),
        "logprobs": pieces(blocks),
    }


def corpus() -> list[dict[str, Any]]:
    entries = []
    for method, make, good, bad in [
        ("chat-logprob", copied, RECOVERABLE, UNRECOVERABLE),
        ("chat-logprob-numbered", numbered, NUMBERED_RECOVERABLE, NUMBERED_UNRECOVERABLE),
    ]:
        for index, record in enumerate(BASE):
            block = make(1, *record)
            for name, variant in good.items():
                entries.append(_entry(f"{method}/{name}/{index}", method, [variant(block)], [record], None))
            for name, (variant, reason) in bad.items():
                entries.append(_entry(f"{method}/{name}/{index}", method, [variant(block)], [record], reason))
            if method == "chat-logprob-numbered":
                entries.append(_entry(f"{method}/copied-tokens/{index}", method,
                                      [copied_tokens(record[0])(block)], [record], None))
            # Two records in one answer, the first never closed: it ends at the second's marker.
            pair = [record, BASE[(index + 1) % len(BASE)]]
            blocks = [missing_close(make(1, *pair[0])), make(2, *pair[1])]
            entries.append(_entry(f"{method}/missing-close-between/{index}", method, blocks, pair, None))
            # Cut at max_tokens in the middle of the record: nothing to read for the rest.
            cut = replace(block, lines=block.lines[: len(block.lines) // 2], close=None)
            entries.append(_entry(f"{method}/cut/{index}", method, [cut], [record],
                                  "no line of the answer stands for it (the answer was cut at max_tokens)", "length"))
    return entries
