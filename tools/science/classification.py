"""The field's classification scorers beside correlation (docs/science.md#field-scorers).

Delphi's detection and fuzzing ask whether an excerpt (detection) or its highlighted tokens
(fuzzing) match the explanation; both score balanced accuracy, so chance is 0.5 whatever the class
balance. NeuronEval's uniform-sample metrics binarize the real activation of uniformly sampled
records and score F1, IoU and AUPRC of the simulation against it. All are pure functions over
arrays; a judge (the thresholded simulation, or an LLM) supplies the 0/1 answers.

The activation threshold is stated, never implicit: a token is active when its raw activation is
at least `ACTIVE_FRACTION` of the neuron's maximum activation (its top record's peak). Delphi's
`> 0` does not suit gated MLPs (SmolLM2's SiLU values are almost never exactly 0). A simulation
(0-10 scale) says active at `10 * ACTIVE_FRACTION` and above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tools.science.scoring import Undefinable

ACTIVE_FRACTION = 0.25
"""A real activation at or above this share of the neuron's maximum counts as active."""
SIMULATED_ACTIVE = 10 * ACTIVE_FRACTION
"""A simulated value (0-10 scale) at or above this counts as a prediction of active."""


def active_threshold(max_activation: float) -> float:
    """The raw activation at and above which a token is active (0 < threshold; 1e-9 for a silent neuron)."""
    return max(ACTIVE_FRACTION * max_activation, 1e-9)


def _bools(values: npt.ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=bool).ravel()


def balanced_accuracy(labels: npt.ArrayLike, answers: npt.ArrayLike) -> Undefinable:
    """(TPR + TNR) / 2 of 0/1 answers against 0/1 labels; undefined without both classes."""
    y, a = _bools(labels), _bools(answers)
    if y.shape != a.shape:
        raise ValueError(f"length mismatch: {y.size} labels, {a.size} answers")
    if not y.any() or y.all():
        return Undefinable(None, "needs both positives and negatives")
    tpr = float(a[y].mean())
    tnr = float((~a[~y]).mean())
    return Undefinable((tpr + tnr) / 2)


def f1_and_iou(labels: npt.ArrayLike, predicted: npt.ArrayLike) -> tuple[Undefinable, Undefinable]:
    """F1 = 2|P∩L| / (|P| + |L|) and IoU = |P∩L| / |P∪L| of two binary masks; undefined when both are empty."""
    y, p = _bools(labels), _bools(predicted)
    if y.shape != p.shape:
        raise ValueError(f"length mismatch: {y.size} labels, {p.size} predictions")
    both, either = int((y & p).sum()), int((y | p).sum())
    if either == 0:
        reason = "no active token, real or predicted"
        return Undefinable(None, reason), Undefinable(None, reason)
    return Undefinable(2 * both / (int(y.sum()) + int(p.sum()))), Undefinable(both / either)


def average_precision(labels: npt.ArrayLike, scores: npt.ArrayLike) -> Undefinable:
    """AUPRC as average precision: Σ (R_k - R_{k-1}) P_k over the distinct score thresholds, highest first
    (tied scores enter together, so the order of ties does not matter); undefined without a positive."""
    y = _bools(labels)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"length mismatch: {y.size} labels, {s.size} scores")
    if not y.any():
        return Undefinable(None, "no positive label")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    hits = np.cumsum(y)[last_of_tie]
    precision = hits / (last_of_tie + 1)
    recall_steps = np.diff(np.r_[0, hits]) / y.sum()
    return Undefinable(float(recall_steps @ precision))


@dataclass(frozen=True)
class Excerpt:
    """One item a judge sees: its tokens, which of them are highlighted (fuzzing), and its true class."""

    tokens: list[str]
    positive: bool
    highlighted: list[int]
    """Token positions marked for the judge (empty in detection)."""


def detection_items(records: Sequence[tuple[Sequence[str], Sequence[float]]], threshold: float) -> list[Excerpt]:
    """Delphi's detection on held-out records: an excerpt is positive when some token reaches `threshold`."""
    return [Excerpt(list(tokens), bool(np.max(acts, initial=-np.inf) >= threshold), []) for tokens, acts in records]


def fuzzing_items(records: Sequence[tuple[Sequence[str], Sequence[float]]], threshold: float, seed: int = 0) -> list[Excerpt]:
    """Delphi's fuzzing: a positive has its active tokens highlighted; a negative gets the highlighted
    positions of a positive drawn at random (those within its length), so it looks the same to the judge."""
    detected = detection_items(records, threshold)
    marks = [[i for i, a in enumerate(acts) if a >= threshold] for _, acts in records]
    positives = [m for m, d in zip(marks, detected, strict=True) if d.positive]
    rng = np.random.default_rng(seed)
    out = []
    for d, mark in zip(detected, marks, strict=True):
        if d.positive:
            out.append(Excerpt(d.tokens, True, mark))
        else:
            copied = positives[int(rng.integers(len(positives)))] if positives else [0]
            out.append(Excerpt(d.tokens, False, [i for i in copied if i < len(d.tokens)] or [0]))
    return out


def judge_by_simulation(items: Sequence[Excerpt], simulated: Sequence[Sequence[float]]) -> list[bool]:
    """The thresholded simulation as a judge: detection says yes when any token's simulated value reaches
    `SIMULATED_ACTIVE`; fuzzing when a highlighted token's does."""
    answers = []
    for item, values in zip(items, simulated, strict=True):
        v = np.asarray(values, dtype=np.float64)
        looked = v[item.highlighted] if item.highlighted else v
        answers.append(bool(np.max(looked, initial=-np.inf) >= SIMULATED_ACTIVE))
    return answers
