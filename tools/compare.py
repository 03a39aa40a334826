"""Choosing between explanations fairly: the same records for all, failures counted, noise-level wins refused.

Candidates are compared on the records they were all simulated on. Where a candidate's simulation
failed on a record that another candidate read, it counts as predicting nothing there (a flat line
at its own mean prediction): a failure can only cost the candidate that failed, never help it,
and an explanation that makes the simulator fail on hard records cannot climb by skipping them.
Records every candidate failed on are left out, since no one can be judged on them.

An incumbent is replaced only when a paired bootstrap over those records says the challenger is
better with the required confidence, so a win within noise is not adopted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from tools.evaluate import ExplanationScore
from tools.science.paired import compare_paired, weighted_pooled_r


@dataclass(frozen=True)
class CommonView:
    """Candidates' predictions on the records all of them can be judged on, failures flattened."""

    true: list[np.ndarray]
    predictions: list[list[np.ndarray]]
    weights: list[float]
    strata: list[int]
    failed: list[int]
    """Per candidate, records it failed among those kept."""


def common_view(scores: Sequence[ExplanationScore]) -> CommonView:
    if not scores:
        return CommonView([], [], [], [], [])
    n_records = scores[0].n_records
    for s in scores:
        if s.n_records != n_records or s.true_activations != scores[0].true_activations:
            raise ValueError("candidates were scored on different records; score them on the same ones to compare")
    ok = np.array([[sim.ok and sim.expected is not None for sim in s.simulations] for s in scores])
    kept = [i for i in range(n_records) if ok[:, i].any()]
    means = []
    for row, s in zip(ok, scores, strict=True):
        values = [v for i in np.flatnonzero(row) for v in (s.simulations[i].expected or [])]
        means.append(float(np.mean(values)) if values else 0.0)
    true = [np.asarray(scores[0].true_activations[i], dtype=np.float64) for i in kept]
    predictions = []
    for k, s in enumerate(scores):
        rows = []
        for i, t in zip(kept, true, strict=True):
            sim = s.simulations[i]
            rows.append(np.asarray(sim.expected, dtype=np.float64) if ok[k, i] else np.full(t.shape, means[k]))
        predictions.append(rows)
    weights = [scores[0].weights[i] for i in kept] if scores[0].weights else [1.0] * len(kept)
    strata = [scores[0].strata[i] for i in kept] if scores[0].strata else [0] * len(kept)
    failed = [int((~ok[k, kept]).sum()) for k in range(len(scores))]
    return CommonView(true, predictions, weights, strata, failed)


@dataclass(frozen=True)
class Ranking:
    values: list[float | None]
    """Each candidate's weighted pooled r on the common view (failures flattened), in input order."""
    order: list[int]
    """Candidate indices, best first: defined scores above undefined, then higher, then fewer failures."""


def rank(scores: Sequence[ExplanationScore]) -> Ranking:
    view = common_view(scores)
    values = [weighted_pooled_r(view.true, p, view.weights) for p in view.predictions]
    order = sorted(range(len(scores)), key=lambda i: (values[i] is None, -(values[i] or 0.0), view.failed[i], i))
    return Ranking(values, order)


@dataclass(frozen=True)
class Judgement:
    adopt: bool
    reason: str
    challenger_score: float | None
    incumbent_score: float | None
    delta: float | None
    p_better: float | None
    n_records: int
    challenger_failed: int
    incumbent_failed: int


class _Common(TypedDict):
    """The `Judgement` fields every verdict of one comparison shares."""

    challenger_score: float | None
    incumbent_score: float | None
    n_records: int
    challenger_failed: int
    incumbent_failed: int


def judge(incumbent: ExplanationScore, challenger: ExplanationScore, confidence: float, seed: int = 0) -> Judgement:
    """Adopt `challenger` only if a paired bootstrap puts its improvement above 0 with `confidence`."""
    view = common_view([incumbent, challenger])
    inc_score, ch_score = (weighted_pooled_r(view.true, p, view.weights) for p in view.predictions)
    base: _Common = {"challenger_score": ch_score, "incumbent_score": inc_score, "n_records": len(view.true),
            "challenger_failed": view.failed[1], "incumbent_failed": view.failed[0]}
    if ch_score is None:
        return Judgement(False, "the challenger's score is undefined on the common records", delta=None, p_better=None, **base)
    if inc_score is None:
        return Judgement(True, "the incumbent's score is undefined on the common records", delta=None, p_better=None, **base)
    result = compare_paired(view.true, view.predictions[0], view.predictions[1], view.weights, view.strata, seed=seed)
    delta, p = result.delta, result.p_better
    if delta is None or delta <= 0:
        return Judgement(False, f"not better: {ch_score:.4f} vs {inc_score:.4f} on {len(view.true)} records",
                         delta=delta, p_better=p, **base)
    if p is None or p < confidence:
        shown = "undefined" if p is None else f"{p:.2f}"
        return Judgement(False, f"+{delta:.4f} is within noise: P(better) {shown} < {confidence:g} "
                                f"(paired bootstrap over {len(view.true)} records)", delta=delta, p_better=p, **base)
    return Judgement(True, f"+{delta:.4f} with P(better) {p:.2f} >= {confidence:g} (paired bootstrap over "
                           f"{len(view.true)} records)", delta=delta, p_better=p, **base)


def outpaced(scores: Sequence[ExplanationScore], confidence: float, seed: int = 0) -> dict[int, Judgement]:
    """The candidates a race may stop early: those the leader (the best on these records) beats with
    `confidence`, as it would have to beat an incumbent to replace it; each with that judgement (the
    leader as challenger). None while the leader's own score is undefined."""
    if len(scores) < 2:
        return {}
    leader = rank(scores).order[0]
    out = {}
    for i, score in enumerate(scores):
        if i != leader:
            verdict = judge(score, scores[leader], confidence, seed=seed)
            if verdict.adopt and verdict.challenger_score is not None:
                out[i] = verdict
    return out
