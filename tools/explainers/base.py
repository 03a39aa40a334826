"""The explainer seam."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tools.formats.openai import ActivationRecord

EXPLANATION_PREFIX = "the main thing this neuron does is find"
MAX_EXPLANATION_CHARS = 400
DEFAULT_MAX_WORDS = 30
"""An explanation is read by a person: this many words at most, unless the user sets another cap."""
_DANGLING = frozenset("and or but the a an of to in on with after before by for as".split())


class NoExplanationError(Exception):
    """Every sample the explainer produced was unusable (empty, absurdly long, or the calls failed)."""


class UnchangedExplanation(NoExplanationError):
    """Every sample a reviser produced repeated the explanation it was asked to revise: the model
    answered, and proposes nothing new (a round without a candidate, not a failed step)."""


@runtime_checkable
class Explainer(Protocol):
    @property
    def name(self) -> str: ...

    async def explain(self, records: Sequence[ActivationRecord], n: int) -> list[str]:
        """Up to `n` distinct usable explanations (without the fixed prefix), best guess first.

        Raises NoExplanationError when none is usable."""
        ...


def word_count(text: str) -> int:
    """Words as a person counts them: whitespace-separated pieces of the text."""
    return len(text.split())


def _tidy_end(words: list[str]) -> str:
    """Words joined, without a dangling connective or punctuation at the end."""
    while words and words[-1].lower().strip(",;:") in _DANGLING:
        words = words[:-1]
    return " ".join(words).rstrip(",;: ")


def cap_words(text: str, max_words: int) -> str:
    """`text` cut to at most `max_words` words, every explainer alike: at the last clause boundary (`;` or `,`)
    that keeps at least half the words, else at the word limit; no dangling connective or punctuation at the end."""
    words = text.split()
    if len(words) <= max_words:
        return text
    kept = words[:max_words]
    boundary = max((i for i, w in enumerate(kept) if w.endswith((";", ","))), default=-1)
    if boundary + 1 >= max_words / 2:
        kept = kept[: boundary + 1]
    return _tidy_end(kept)


# The prefix the prompts end on, which models often repeat, sometimes after a preamble, an echoed
# label ("Improved explanation: the main thing ...") and sometimes with another verb ("... does is
# detect X"): the explanation is what follows it.
_PREFIX = re.compile(re.escape(EXPLANATION_PREFIX.removesuffix(" find")) + r"(?:\s+find\b)?", re.IGNORECASE)
_LABEL = re.compile(r"^(?:improved |revised |new )?explanation(?: of neuron \w+ behaviou?r)?\s*:", re.IGNORECASE)


def clean_explanation(text: str, max_words: int | None = None, cut: bool = False) -> str | None:
    """An explanation as stored, read from a whole answer: HTML entities decoded, no prefix or label,
    its lines joined into one, no enclosing quotes or trailing period, at most `max_words` words (cut
    at a clause boundary); None if nothing usable is left or what is left is absurdly long.

    `cut`: the answer stopped at the output cap, so its last word may be a fragment and is dropped."""
    answer = html.unescape(text)
    # The last prefix: an answer that echoes the prompt continues from its last line.
    prefixes = list(_PREFIX.finditer(answer))
    answer = answer[prefixes[-1].end():] if prefixes else _LABEL.sub("", answer.strip(), count=1)
    line = " ".join(answer.split())
    if len(line) > 1 and line[0] == line[-1] == '"' and '"' not in line[1:-1]:
        line = line[1:-1].strip()  # a wholly quoted answer; quotes inside name tokens and stay
    if cut and (max_words is None or word_count(line) <= max_words):
        line = _tidy_end(line.split()[:-1])
    line = cap_words(line, max_words) if max_words is not None else line
    line = line[:-1].rstrip() if line.endswith(".") else line
    if not line or len(line) > MAX_EXPLANATION_CHARS:
        return None
    return line
