"""Expected activation from a simulator's top logprobs at one value slot (docs/science.md#expected-value)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

VALUE_TOKENS = {str(v): v for v in range(11)}


@dataclass(frozen=True)
class ValueDistribution:
    """A distribution over the values 0-10 at one token, and its expected value (0-10 scale)."""

    values: list[int]
    probabilities: list[float]
    expected_value: float
    kept_candidates: int
    """How many of the top candidates were value tokens; 0 means the EV fell back to 0."""
    value_mass: float = 0.0
    """Probability (0-1) the model put on the kept value tokens, before renormalizing. Near 0, it
    mostly expected another token at the slot (the all-at-once prompt's placeholder, for one), and
    the distribution is read from what little was left."""


def value_distribution(top: Iterable[tuple[str, float]]) -> ValueDistribution:
    """From (token text, logprob) candidates: keep texts exactly "0".."10" (" 3" does not count),
    renormalize their probabilities, EV = sum(v * p); EV = 0 when no candidate is a value. Also
    keeps how much probability the values had before renormalizing (`value_mass`)."""
    mass: dict[int, float] = {}
    for text, logprob in top:
        value = VALUE_TOKENS.get(text)
        if value is not None:
            mass[value] = mass.get(value, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return ValueDistribution([], [], 0.0, 0)
    values = sorted(mass)
    probs = [mass[v] / total for v in values]
    return ValueDistribution(values, probs, sum(v * p for v, p in zip(values, probs, strict=True)), len(values),
                             min(1.0, total))


def split_ten(first: Sequence[tuple[str, float]], zero_after_one: float | None) -> list[tuple[str, float]]:
    """For tokenizers that write "10" as "1" then "0": split the "1" candidate's mass into 1 and 10.

    `zero_after_one` is P(next token is "0" | this token is "1"), read at the following slot when
    the model actually wrote "1"; when that continuation was not observed (None) the "1" mass is
    kept as the value 1, a lower bound (a true 10 then reads as 1)."""
    out: list[tuple[str, float]] = []
    for text, logprob in first:
        if text == "1" and zero_after_one is not None:
            p = math.exp(logprob)
            if zero_after_one > 0:
                out.append(("10", math.log(p * zero_after_one)))
            if zero_after_one < 1:
                out.append(("1", math.log(p * (1 - zero_after_one))))
        else:
            out.append((text, logprob))
    return out
