"""The explainer seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tools.formats.openai import ActivationRecord

EXPLANATION_PREFIX = "the main thing this neuron does is find"
MAX_EXPLANATION_CHARS = 400


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


def clean_explanation(text: str) -> str | None:
    """An explanation as stored: no prefix, one line, no trailing period; None if unusable."""
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
    return line
