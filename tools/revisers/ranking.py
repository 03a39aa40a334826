"""Which evidence records the reviser is shown: ranked by how wrong the explanation's predictions are
where the neuron is active.

A per-record correlation ranks noise first: it is undefined on a flat prediction and lowest on
near-silent records, where nothing the explanation could say would help. The gap between the real
values and the predicted ones (both 0-10, as the prompt shows them) on the records where the neuron
responds is what a revision can close.
"""

from __future__ import annotations

from tools.evaluate import ExplanationScore
from tools.science.normalize import normalize_record

SHOWN_RECORDS = 3
"""Records a reviser is shown of each kind (best and worst predicted)."""


def prediction_error(real: list[float], predicted: list[float], max_activation: float) -> float:
    """Mean absolute gap between the real values normalized to 0-10 by `max_activation` and the predicted ones."""
    shown = normalize_record(real, max_activation)
    return sum(abs(r - p) for r, p in zip(shown, predicted, strict=True)) / max(1, len(shown))


def rank_by_error(score: ExplanationScore, max_activation: float) -> list[int]:
    """Indices of the scored records where the neuron is active (a real value of at least 1 on the 0-10
    scale), worst predicted first; records whose simulation failed are left out (nothing to compare)."""
    errors = {
        i: prediction_error(real, sim.expected, max_activation)
        for i, (real, sim) in enumerate(zip(score.true_activations, score.simulations, strict=True))
        if sim.ok and sim.expected is not None and max(normalize_record(real, max_activation), default=0) >= 1
    }
    return sorted(errors, key=lambda i: (-errors[i], i))
