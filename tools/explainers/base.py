"""The explainer seam."""

from __future__ import annotations

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
    while kept and kept[-1].lower().strip(",;:") in _DANGLING:
        kept.pop()
    return " ".join(kept).rstrip(",;: ")


def clean_explanation(text: str, max_words: int | None = None) -> str | None:
    """An explanation as stored: no prefix, one line, no trailing period, at most `max_words` words; None if unusable."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    # Models often repeat the prefix, sometimes with another verb ("... does is detect X"): keep
    # only what follows, so the stored text never carries the prefix.
    for prefix in (EXPLANATION_PREFIX, EXPLANATION_PREFIX.removesuffix(" find")):
        if line.lower().startswith(prefix):
            line = line[len(prefix):].strip()
            break
    if len(line) > 1 and line[0] == line[-1] == '"' and '"' not in line[1:-1]:
        line = line[1:-1].strip()  # a wholly quoted answer; quotes inside name tokens and stay
    line = line[:-1] if line.endswith(".") else line
    if not line or len(line) > MAX_EXPLANATION_CHARS:
        return None
    return cap_words(line, max_words) if max_words is not None else line
