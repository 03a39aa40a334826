"""Cutting a long text to a window around the token that matters, so prompts stay bounded.

Reviser and prober prompts show several texts at once; a 64-token record shown whole costs 64 lines
where the neuron's story is usually told by a few tokens and what precedes them.
"""

from __future__ import annotations

from collections.abc import Sequence

WINDOW_TOKENS = 24


def peak_index(values: Sequence[float]) -> int:
    """Position of the largest value (the first one on ties); 0 for an empty sequence."""
    return max(range(len(values)), key=lambda i: values[i], default=0)


def peak_window(length: int, centre: int, size: int = WINDOW_TOKENS) -> range:
    """Positions shown of a text of `length` tokens.

    All of them when the text fits in `size`; else `size` consecutive positions holding `centre`,
    with up to three quarters of them before it (the subject model is causal: only what precedes a
    token can make it fire), shifted to stay inside the text.
    """
    if length <= size:
        return range(length)
    start = min(max(0, centre - (size * 3) // 4), length - size)
    return range(start, start + size)


def window_note(window: range, length: int) -> str:
    """' (tokens a-b of n)' with 1-based inclusive positions when the window cuts the text, else ''."""
    if len(window) == length:
        return ""
    return f" (tokens {window.start + 1}-{window.stop} of {length})"
