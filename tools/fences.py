"""Markdown code fences in model answers: the one definition of a fence that every answer reader uses.

A fence marker is three backticks or three tildes, then an optional info string (```json). Readers
either drop the markers and read what is left (`without_fences`, `is_fence_line`) or read only the
inside of the first fence (`first_fenced`).
"""

from __future__ import annotations

import re

_MARKER = r"(?:```|~~~)"
_INFO = r"[A-Za-z0-9_-]*"
_MARKER_WITH_INFO = re.compile(_MARKER + _INFO)
_FENCE_LINE = re.compile(r"\s*" + _MARKER)
_FENCED = re.compile(r"(```|~~~)" + _INFO + r"[ \t]*\n?(.*?)\1", re.DOTALL)


def is_fence_line(line: str) -> bool:
    """Whether the line opens or closes a fence (a marker after any indent)."""
    return _FENCE_LINE.match(line) is not None


def without_fences(text: str) -> str:
    """The text with every fence marker (and its info string) taken out, wherever it stands."""
    return _MARKER_WITH_INFO.sub("", text)


def first_fenced(text: str) -> str | None:
    """The inside of the first closed fence, or None when the text has none."""
    fenced = _FENCED.search(text)
    return fenced.group(2) if fenced else None
