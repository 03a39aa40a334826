"""Normalization of raw activations to the integers 0-10 shown in prompts (docs/science.md#normalization).

Only prompts see normalized values; scores always use raw activations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def max_relu(records: Sequence[Sequence[float]]) -> float:
    """M = max(ReLU(a)) over every token of every record shown together (0 when nothing is positive)."""
    return max((max(0.0, float(a)) for rec in records for a in rec), default=0.0)


def normalize_record(activations: Sequence[float], max_activation: float) -> list[int]:
    """q(a) = min(10, floor(10 * ReLU(a) / M)); all zeros when M <= 0 (floor, not round: OpenAI's rule)."""
    if max_activation <= 0:
        return [0] * len(activations)
    return [min(10, math.floor(10 * max(0.0, float(a)) / max_activation)) for a in activations]


def normalize_records(records: Sequence[Sequence[float]]) -> list[list[int]]:
    """Normalize records shown together by their common maximum."""
    m = max_relu(records)
    return [normalize_record(rec, m) for rec in records]


def nonzero_share(normalized: Sequence[Sequence[int]]) -> float:
    """Share of shown values that are non-zero (the explainer repeats records when it is under 20%)."""
    total = sum(len(rec) for rec in normalized)
    return sum(v != 0 for rec in normalized for v in rec) / total if total else 0.0
