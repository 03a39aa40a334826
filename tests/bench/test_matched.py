"""Matched baselines: best-of-k draws k distinct candidates reproducibly; the trace counts what the loop did."""

from __future__ import annotations

from pathlib import Path

from bench.matched import diverse_candidates, kinds_adopted, loop_counts, revision_share
from graphs.trace import CandidateJudged, ExplanationsProposed, TraceWriter, trace_path
from tests.builtin.test_reviser import VOCAB, sample


def test_best_of_k_draws_distinct_candidates_the_same_way_every_time() -> None:
    train = sample(5, seed=1)
    first = diverse_candidates(train, VOCAB, 6, 12, seed=0)
    assert 1 < len(first) <= 6 and len(set(first)) == len(first)
    assert first == diverse_candidates(train, VOCAB, 6, 12, seed=0)
    # The explainer's own candidates on all the train records come first.
    assert diverse_candidates(train, VOCAB, 1, 12, seed=3) == first[:1]


def test_loop_counts_and_the_share_of_revisions_answering_a_counterexample(tmp_path: Path) -> None:
    writer = TraceWriter(trace_path(tmp_path, 0, 1), 0, 1)
    base = writer.base()
    with writer.span("propose", 0):
        writer.emit(ExplanationsProposed(source="explainer", explanations=["a", "b"], **base))
    with writer.span("revise", 1):
        writer.emit(ExplanationsProposed(source="reviser", explanations=["b", "c", "d", "e"], answers=[[], ["cx 1"], [], ["cx 2"]],
                                         notes=["refitted on 8 records", "removed 'x'", "refitted on 8 records",
                                                "refitted with 'y' kept in"], **base))
    with writer.span("score", 1):
        for text, answers in (("c", ["cx 1"]), ("d", []), ("e", ["cx 2"])):
            writer.emit(CandidateJudged(explanation=text, words=1, score=0.5, adopted=True, reason="better", answers=answers,
                                        **base | {"iteration": 1}))
    writer.close()
    counts = loop_counts(tmp_path, 0, 1)
    assert counts == {"candidates": 5, "adopted_revisions": 3, "adopted_answering_counterexample": 2,
                      "adopted_by_kind": {"edit": 1, "refit": 1, "answering refit": 1}}
    assert revision_share([{"matched": counts}, {"matched": None}]) == 0.6667
    assert kinds_adopted([{"matched": counts}, {"matched": counts}]) == {"edit": 2, "refit": 2, "answering refit": 2}
