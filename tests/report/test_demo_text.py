"""The demo's account of a refined neuron (agent/views/terminal.refinement_text): fits 100 columns,
names the counterexamples behind each adopted revision, and says plainly whether the loop helped."""

from __future__ import annotations

from agent.views.story import adopted_changes
from agent.views.terminal import refinement_text
from graphs.trace import CandidateJudged, Finalized, HeldoutResult, PairedGain

ONESHOT = 'the word "than"; the word "rather" (4)'
REFINED = '"than" after "more" or "less"; the word "rather" (4)'
LABEL = "false positive on ' than' (gate-without)"


def final(gain: float, ci: tuple[float, float], refined: str = REFINED) -> Finalized:
    return Finalized(layer=4, neuron=2, status="ok", stop="converged", method="builtin-lexical",
                     oneshot=HeldoutResult(explanation=ONESHOT, heldout_score=0.31, heldout_ci=(0.2, 0.4)),
                     refined=HeldoutResult(explanation=refined, heldout_score=0.31 + gain, heldout_ci=(0.3, 0.5)),
                     iterations=3, probes=40, counterexamples=6, tokens=0, cost_usd=0.0, seconds=12.0,
                     paired=PairedGain(n_records=60, n_paired=60, oneshot_score=0.31, refined_score=0.31 + gain, gain=gain,
                                       gain_ci=ci, p_better=0.99))


def judged(iteration: int, adopted: bool, explanation: str = REFINED) -> CandidateJudged:
    return CandidateJudged(layer=4, neuron=2, iteration=iteration, explanation=explanation, words=8, score=0.4,
                           adopted=adopted, reason="r", delta=0.05, p_better=0.98, answers=[LABEL, "b", "c"])


def test_adopted_revisions_are_the_changes_and_one_shot_adoption_is_not() -> None:
    changes = adopted_changes([judged(0, True, ONESHOT), judged(1, False, "other"), judged(2, True)])
    assert [(c.iteration, c.explanation) for c in changes] == [(2, REFINED)]
    assert changes[0].answers == [LABEL, "b", "c"]


def test_the_text_fits_100_columns_and_names_two_counterexamples_at_most() -> None:
    text = refinement_text(final(0.08, (0.03, 0.12)), adopted_changes([judged(2, True)]), "runs/demo-refine/report/index.html")
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "held-out r 0.310 [0.200, 0.400]" in text and "held-out r 0.390 [0.300, 0.500]" in text
    assert text.count("answers:") == 2 and LABEL in text
    assert "Refinement improved this neuron: gain +0.080 (95% CI [+0.030, +0.120])" in text
    assert text.rstrip().endswith("HTML report: runs/demo-refine/report/index.html")


def test_the_verdict_says_plainly_when_the_loop_did_not_help() -> None:
    assert "Not a clear improvement" in refinement_text(final(0.02, (-0.01, 0.05)), [], "r.html")
    assert "made this neuron worse" in refinement_text(final(-0.06, (-0.1, -0.02)), [], "r.html")
    refit = judged(1, True).model_copy(update={"answers": []})
    assert "a refit on the records" in refinement_text(final(0.02, (-0.01, 0.05)), adopted_changes([refit]), "r.html")
    kept = refinement_text(final(0.0, (0.0, 0.0), refined=ONESHOT), [], "r.html")
    assert "kept the one-shot explanation" in kept and "No revision was adopted" in kept
