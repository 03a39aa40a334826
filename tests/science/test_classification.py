"""Detection, fuzzing and uniform-sample scorers against hand-computed cases (docs/science.md#field-scorers)."""

from __future__ import annotations

import pytest

from tools.evaluate import score_simulations
from tools.formats.openai import ActivationRecord
from tools.science.classification import (
    active_threshold,
    average_precision,
    balanced_accuracy,
    detection_items,
    f1_and_iou,
    fuzzing_items,
    judge_by_simulation,
)
from tools.scorers import field_scores
from tools.simulators.base import RecordSimulation


def test_balanced_accuracy_golden() -> None:
    """docs/science.md#field-scorers"""
    # TPR 2/3, TNR 1/2.
    assert balanced_accuracy([1, 1, 1, 0, 0], [1, 0, 1, 0, 1]).value == pytest.approx(7 / 12)
    # Saying yes to everything is chance, whatever the class balance.
    assert balanced_accuracy([1, 0, 0, 0, 0, 0], [1] * 6).value == pytest.approx(0.5)
    assert balanced_accuracy([1, 1], [1, 0]).value is None


def test_f1_and_iou_golden() -> None:
    """docs/science.md#field-scorers"""
    f1, iou = f1_and_iou([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert f1.value == pytest.approx(4 / 6) and iou.value == pytest.approx(2 / 4)
    empty_f1, empty_iou = f1_and_iou([0, 0], [0, 0])
    assert empty_f1.value is None and empty_iou.value is None


def test_average_precision_golden_and_ties_enter_together() -> None:
    """docs/science.md#field-scorers"""
    # Hits at ranks 1 and 3: 1/2 * 1 + 1/2 * 2/3.
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]).value == pytest.approx(5 / 6)
    # The tie at 0.5 is one threshold: precision 1/2 at recall 1/2, then 2/3 at recall 1.
    for labels in ([1, 0, 1], [0, 1, 1]):
        assert average_precision(labels, [0.5, 0.5, 0.1]).value == pytest.approx(0.25 + 1 / 3)
    assert average_precision([0, 0], [1.0, 0.0]).value is None


# A positive (its peak at token 1) and two negatives. Simulated: the positive's peak is seen; the first
# negative is predicted high at token 1, where the positive's highlight is copied; the second is
# predicted high at token 0 only, away from the copied highlight.
RECORDS = [(["a", "b", "c"], [0.0, 4.0, 0.0]), (["d", "e"], [0.5, 0.2]), (["f", "g", "h", "i"], [0.0, 0.0, 0.0, 0.0])]
SIMULATED = [[0.0, 8.0, 0.0], [0.0, 5.0], [9.0, 0.0, 0.0, 0.0]]


def test_detection_and_fuzzing_golden() -> None:
    """docs/science.md#field-scorers"""
    threshold = active_threshold(4.0)
    assert threshold == 1.0
    detect = detection_items(RECORDS, threshold)
    assert [d.positive for d in detect] == [True, False, False]
    # Detection: every excerpt is predicted active somewhere: TPR 1, TNR 0.
    assert judge_by_simulation(detect, SIMULATED) == [True, True, True]
    assert balanced_accuracy([d.positive for d in detect], judge_by_simulation(detect, SIMULATED)).value == 0.5
    fuzz = fuzzing_items(RECORDS, threshold)
    assert [f.highlighted for f in fuzz] == [[1], [1], [1]]
    # Fuzzing looks at the highlighted token only: the second negative is rejected. TPR 1, TNR 1/2.
    assert judge_by_simulation(fuzz, SIMULATED) == [True, True, False]
    assert balanced_accuracy([f.positive for f in fuzz], judge_by_simulation(fuzz, SIMULATED)).value == 0.75


def test_field_scores_of_a_simulated_explanation() -> None:
    records = [ActivationRecord(tokens=t, activations=a) for t, a in RECORDS]
    sims = [RecordSimulation(method="test", tokens=t, expected=s) for (t, _), s in zip(RECORDS, SIMULATED, strict=True)]
    score = score_simulations("x", records, sims, "test", "test")
    scores = field_scores(score, n_top=1, max_activation=4.0)
    assert (scores.detection, scores.fuzzing) == (0.5, 0.75)
    assert (scores.positives, scores.negatives, scores.random_active_tokens) == (1, 2, 0)
    # No random token is active but two are predicted: F1 and IoU 0, AUPRC undefined.
    assert (scores.f1, scores.iou, scores.auprc) == (0.0, 0.0, None)
    assert scores.threshold == 1.0 and scores.random_r is not None


def test_a_failed_record_is_left_out() -> None:
    records = [ActivationRecord(tokens=t, activations=a) for t, a in RECORDS]
    sims = [RecordSimulation(method="test", tokens=t, expected=s) for (t, _), s in zip(RECORDS, SIMULATED, strict=True)]
    sims[2] = RecordSimulation(method="test", tokens=RECORDS[2][0], status="failed", error="unreadable")
    scores = field_scores(score_simulations("x", records, sims, "test", "test"), n_top=1, max_activation=4.0)
    assert (scores.positives, scores.negatives) == (1, 1) and scores.fuzzing == 0.5
