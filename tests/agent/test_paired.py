"""The one-shot vs refined gain is paired: both scores over the held-out records both simulations read."""

from __future__ import annotations

import pytest

from graphs.trace import HeldoutResult, PairedGain
from tools.evaluate import ExplanationScore, score_simulations
from tools.formats.openai import ActivationRecord
from tools.simulators.base import RecordSimulation

RECORDS = [
    ActivationRecord(tokens=["a", "b", "c"], activations=[0.0, 3.0, 0.0]),
    ActivationRecord(tokens=["d", "e"], activations=[2.0, 0.0]),
    ActivationRecord(tokens=["f", "g", "h"], activations=[0.0, 0.0, 4.0]),
    ActivationRecord(tokens=["i", "j"], activations=[1.0, 1.5]),
]


def _score(values: list[list[float] | None]) -> ExplanationScore:
    sims = [RecordSimulation(method="m", tokens=r.tokens, expected=v) if v is not None
            else RecordSimulation.failed("m", r.tokens, "unreadable answer") for r, v in zip(RECORDS, values, strict=True)]
    return score_simulations("x", RECORDS, sims, "test", "m")


def test_each_score_leaves_out_the_records_either_simulation_failed() -> None:
    # The refined simulation fails the last record, on which the one-shot one is wrong: unpaired, the
    # refined explanation would gain from its own failure.
    oneshot = _score([[0, 9, 0], [0, 8], [0, 0, 9], [9, 0]])
    refined = _score([[0, 9, 1], [9, 0], [0, 0, 9], None])
    paired = PairedGain.of(oneshot, refined)
    assert (paired.n_records, paired.n_paired, paired.failed_oneshot, paired.failed_refined) == (4, 3, [], [3])
    kept = [0, 1, 2]
    expected_o = score_simulations("x", [RECORDS[i] for i in kept], [oneshot.simulations[i] for i in kept], "test", "m").score
    expected_r = score_simulations("x", [RECORDS[i] for i in kept], [refined.simulations[i] for i in kept], "test", "m").score
    assert paired.oneshot_score == pytest.approx(expected_o) and paired.refined_score == pytest.approx(expected_r)
    assert paired.gain == pytest.approx(expected_r - expected_o)
    # Its interval comes from a paired bootstrap over the same three records.
    assert paired.gain_ci is not None and paired.gain_ci[0] <= paired.gain <= paired.gain_ci[1]
    assert paired.p_better is not None and 0 <= paired.p_better <= 1
    assert paired.oneshot_score != pytest.approx(oneshot.score)  # the one-shot's own score used record 4 too
    assert HeldoutResult.of(refined).failed_records == [3] and HeldoutResult.of(refined).n_records == 4


def test_no_record_read_by_both_leaves_the_gain_undefined() -> None:
    paired = PairedGain.of(_score([None, None, [0, 0, 9], [9, 0]]), _score([[0, 9, 0], [9, 0], None, None]))
    assert paired.n_paired == 0 and paired.gain is None and paired.oneshot_score is None


def test_scores_of_different_records_cannot_be_paired() -> None:
    other = score_simulations("x", RECORDS[:2], [RecordSimulation(method="m", tokens=r.tokens, expected=[1.0] * len(r.tokens))
                                                 for r in RECORDS[:2]], "test", "m")
    with pytest.raises(ValueError, match="same records"):
        PairedGain.of(other, _score([[0, 9, 0], [9, 0], [0, 0, 9], [9, 0]]))
