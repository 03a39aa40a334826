"""Pure helpers that turn tokens and values into prompt text, shared by explainers and simulators."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)
_UNESCAPES = {escaped[1]: raw for raw, escaped in _ESCAPES.items()}
_ESCAPED = re.compile(r"\\([\\ntr])")


def escape_token(token: str) -> str:
    """A token as one line-safe field: backslash, newline, tab and CR written as escapes."""
    return token.translate(_ESCAPE_TABLE)


def unescape_token(text: str) -> str:
    """The inverse of `escape_token`; a backslash before any other character stays as it is."""
    if "\\" not in text:  # most tokens: this runs once per token of every simulated record
        return text
    return _ESCAPED.sub(lambda m: _UNESCAPES[m.group(1)], text)


def token_value_lines(tokens: Sequence[str], values: Sequence[int], omit_zeros: bool = False) -> str:
    """`token<TAB>value` lines between `<start>` and `<end>` (docs/science.md#explanations)."""
    lines = [f"{escape_token(t)}\t{v}" for t, v in zip(tokens, values, strict=True) if not (omit_zeros and v == 0)]
    return "\n".join(["<start>", *lines, "<end>"])


def marked_text(tokens: Sequence[str], values: Sequence[int], at_least: int = 1) -> str:
    """The text with each token whose value is at least `at_least` wrapped in [[ ]] (a leading space stays
    outside the marks): plain prose that a small model reads as a text, not a table to copy."""
    parts = []
    for token, value in zip(tokens, values, strict=True):
        shown = escape_token(token)
        if value >= at_least and shown.strip():
            body = shown.lstrip(" ")
            shown = f"{shown[: len(shown) - len(body)]}[[{body}]]"
        parts.append(shown)
    return "".join(parts)


def valued_text(tokens: Sequence[str], values: Sequence[int]) -> str:
    """The text inline, each token with a non-zero value followed by it in brackets (` blue[9]`): a
    text reads as prose, and costs a few prompt tokens, not a line per token."""
    return "".join(escape_token(t) + (f"[{v}]" if v else "") for t, v in zip(tokens, values, strict=True))
