"""Where each token of a text sits: the structure around it that a context condition can name.

Computed from the token pieces alone (decoded text, leading spaces kept), left to right, so every
feature at position i depends only on tokens before i, as a causal model's neuron does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_SENTENCE_END = (".", "!", "?")


@dataclass(frozen=True)
class TextStructure:
    line_start: np.ndarray
    """The token begins the text or follows a line break."""
    sentence_start: np.ndarray
    """The token begins the text, follows a line break, or follows sentence-ending punctuation."""
    inside_parens: np.ndarray
    """More "(" than ")" in the text before the token."""
    inside_quotes: np.ndarray
    """An odd number of double quotes in the text before the token."""


def text_structure(tokens: Sequence[str]) -> TextStructure:
    n = len(tokens)
    line = np.zeros(n, dtype=bool)
    sentence = np.zeros(n, dtype=bool)
    parens = np.zeros(n, dtype=bool)
    quotes = np.zeros(n, dtype=bool)
    depth = 0
    quote_count = 0
    for i, piece in enumerate(tokens):
        if i == 0:
            line[i] = sentence[i] = True
        else:
            before = tokens[i - 1]
            line[i] = "\n" in before
            stripped = before.strip().rstrip("\"')”’")
            sentence[i] = line[i] or stripped.endswith(_SENTENCE_END)
        parens[i] = depth > 0
        quotes[i] = quote_count % 2 == 1
        depth = max(0, depth + piece.count("(") - piece.count(")"))
        quote_count += piece.count('"') + piece.count("“") + piece.count("”")
    return TextStructure(line, sentence, parens, quotes)
