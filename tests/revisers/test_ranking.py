"""Which records the reviser is shown: ranked by prediction error where the neuron is active, never by a
per-record r that puts flat predictions and near-silent records first."""

from __future__ import annotations

from tools.evaluate import ExplanationScore
from tools.revisers.ranking import prediction_error, rank_by_error
from tools.simulators.base import RecordSimulation


def _score(records: list[tuple[list[float], list[float] | None]]) -> ExplanationScore:
    simulations = [RecordSimulation(method="m", tokens=["t"] * len(real), expected=predicted) if predicted is not None
                   else RecordSimulation.failed("m", ["t"] * len(real), "no logprobs") for real, predicted in records]
    return ExplanationScore(explanation="x", method="m", split="calibration", score=None, n_records=len(records),
                            n_failed=sum(p is None for _, p in records), per_record=[None] * len(records),
                            true_activations=[real for real, _ in records], simulations=simulations)


def test_records_are_ranked_by_error_where_the_neuron_is_active() -> None:
    score = _score([
        ([0.0, 0.05, 0.0], [0.0, 0.0, 0.0]),   # 0: near-silent (under 1 on the 0-10 scale), flat prediction: never shown
        ([0.0, 2.0, 0.0], [0.0, 9.0, 0.0]),    # 1: active, predicted almost right
        ([2.0, 0.0, 0.0], [0.0, 0.0, 0.0]),    # 2: active, missed entirely (flat prediction, undefined r)
        ([0.0, 0.0, 2.0], None),               # 3: its simulation failed: nothing to compare
        ([1.0, 0.0, 0.0], [0.0, 0.0, 10.0]),   # 4: active, predicted on the wrong token
    ])
    assert rank_by_error(score, max_activation=2.0) == [4, 2, 1]


def test_the_error_is_on_the_scale_the_prompt_shows() -> None:
    # 1.0 of a maximum 2.0 is shown as 5; predicted 5 and 0 beside real 5 and 0: no error.
    assert prediction_error([1.0, 0.0], [5.0, 0.0], 2.0) == 0.0
    assert prediction_error([2.0, 0.0], [0.0, 4.0], 2.0) == 7.0
