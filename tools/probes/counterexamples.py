"""Counterexamples: probes where the simulation of an explanation and reality disagree most (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from tools.probes.types import Counterexample, ProbeResult

THRESHOLD = 3.0
"""Disagreement, on the 0-10 scale, that makes a token an offender."""


def real_scale(real: Sequence[float], max_activation: float) -> np.ndarray:
    """Raw activations on the simulator's 0-10 scale (continuous, ReLU, capped at 10)."""
    if max_activation <= 0:
        return np.zeros(len(real))
    return np.clip(10.0 * np.maximum(np.asarray(real, dtype=np.float64), 0.0) / max_activation, 0.0, 10.0)


def counterexample_of(probe: ProbeResult, max_activation: float, threshold: float = THRESHOLD) -> Counterexample | None:
    """The probe's worst disagreement as a false positive or false negative, if it crosses `threshold`."""
    if probe.predicted is None or not probe.real:
        return None
    diff = np.asarray(probe.predicted, dtype=np.float64) - real_scale(probe.real, max_activation)
    over, under = float(diff.max()), float(-diff.min())
    if max(over, under) < threshold:
        return None
    kind: Literal["false_positive", "false_negative"] = "false_positive" if over >= under else "false_negative"
    signed = diff if kind == "false_positive" else -diff
    offending = [int(i) for i in np.flatnonzero(signed >= threshold)]
    return Counterexample(
        kind=kind, generator=probe.generator, text=probe.text, tokens=probe.tokens, real=probe.real,
        predicted=probe.predicted, offending=offending, error=round(max(over, under), 3),
    )


def top_counterexamples(probes: Sequence[ProbeResult], max_activation: float, k: int = 8) -> list[Counterexample]:
    """The k largest disagreements, alternating false negatives and false positives when both exist."""
    found = [c for p in probes if (c := counterexample_of(p, max_activation)) is not None]
    negatives = sorted((c for c in found if c.kind == "false_negative"), key=lambda c: -c.error)
    positives = sorted((c for c in found if c.kind == "false_positive"), key=lambda c: -c.error)
    out: list[Counterexample] = []
    while len(out) < k and (negatives or positives):
        for pool in (negatives, positives):
            if pool and len(out) < k:
                out.append(pool.pop(0))
    return out
