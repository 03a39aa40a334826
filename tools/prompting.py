"""Pure helpers that turn tokens and values into prompt text, shared by explainers and simulators."""

from __future__ import annotations

from collections.abc import Sequence

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def escape_token(token: str) -> str:
    """A token as one line-safe field: backslash, newline, tab and CR written as escapes."""
    return "".join(_ESCAPES.get(ch, ch) for ch in token)


def unescape_token(text: str) -> str:
    out, i = [], 0
    reverse = {v[1]: k for k, v in _ESCAPES.items()}
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in reverse:
            out.append(reverse[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def token_value_lines(tokens: Sequence[str], values: Sequence[int], omit_zeros: bool = False) -> str:
    """`token<TAB>value` lines between `<start>` and `<end>` (science.md §6)."""
    lines = [f"{escape_token(t)}\t{v}" for t, v in zip(tokens, values, strict=True) if not (omit_zeros and v == 0)]
    return "\n".join(["<start>", *lines, "<end>"])
