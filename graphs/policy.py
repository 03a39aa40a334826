"""The loop's decisions as pure functions: adopt or reject a round's best candidate, stop or go on.

Candidates are compared like with like (`tools.compare`): on the records all of them were
simulated on, a failed record counting against the candidate that failed it. After the one-shot
round, a revision replaces the incumbent only when a paired bootstrap on the selection records
says it is better with `adopt_confidence`; a noise-level win is recorded and refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from graphs.context import RefineParams
from graphs.state import Candidate, Stop
from tools.compare import judge, rank
from tools.evaluate import ExplanationScore


@dataclass(frozen=True)
class Verdict:
    """Why one candidate was or was not adopted."""

    explanation: str
    score: float | None
    """Like-with-like score on the round's common records."""
    adopted: bool
    reason: str
    delta: float | None = None
    p_better: float | None = None
    failed_records: int = 0


@dataclass(frozen=True)
class Decision:
    best: Candidate | None
    top: Candidate | None
    """The round's best candidate (adopted or not)."""
    decision: Literal["adopted", "rejected", "failed"]
    reason: str
    stale_rounds: int
    verdicts: list[Verdict] = field(default_factory=list)


def decide(
    best: Candidate | None, best_result: ExplanationScore | None, scored: Sequence[Candidate],
    results: Sequence[ExplanationScore], iteration: int, stale: int, params: RefineParams,
) -> Decision:
    """Iteration 0 adopts the best one-shot candidate; later rounds adopt the round's best only if it beats
    the incumbent beyond noise, and count a round as stale unless the gain exceeds `epsilon`."""
    if not scored:
        return Decision(best, None, "failed" if iteration == 0 else "rejected", "no candidate" if iteration == 0 else "no revision",
                        stale if iteration == 0 else stale + 1)
    if iteration == 0 or best is None or best_result is None:
        ranking = rank(results)
        order, values = ranking.order, ranking.values
        top_index = order[0]
        top = scored[top_index] | {"score": values[top_index]}
        verdicts = [Verdict(scored[i]["explanation"], values[i], i == top_index,
                            "best of the one-shot candidates" if i == top_index else f"ranked {rank_no + 1} of {len(order)}",
                            failed_records=results[i].n_failed) for rank_no, i in enumerate(order)]
        if values[top_index] is None:
            return Decision(top, top, "failed", "no candidate has a defined selection score", stale, verdicts)
        return Decision(top, top, "adopted", "best of the one-shot candidates", 0, verdicts)
    ranking = rank(results)
    order, values = ranking.order, ranking.values
    top_index = order[0]
    verdict = judge(best_result, results[top_index], params.adopt_confidence, seed=params.seed + iteration)
    top = scored[top_index] | {"score": verdict.challenger_score}
    verdicts = [Verdict(scored[top_index]["explanation"], values[top_index], verdict.adopt, verdict.reason, verdict.delta,
                        verdict.p_better, results[top_index].n_failed)]
    verdicts += [Verdict(scored[i]["explanation"], values[i], False, f"ranked {n + 2} of {len(order)} this round",
                         failed_records=results[i].n_failed) for n, i in enumerate(order[1:])]
    if verdict.adopt:
        gain = verdict.delta or 0.0
        return Decision(top, top, "adopted", verdict.reason, 0 if gain > params.epsilon else stale + 1, verdicts)
    incumbent = best | {"score": verdict.incumbent_score}
    return Decision(incumbent, top, "rejected", verdict.reason, stale + 1, verdicts)


def should_stop(best: Candidate | None, iteration: int, stale: int, params: RefineParams) -> tuple[Stop | None, str]:
    score = best["score"] if best else None
    if params.target is not None and score is not None and score >= params.target:
        return "target", f"selection score {score:.4f} reached the target {params.target:g}"
    if iteration >= params.max_iters:
        return "max_iters", f"{params.max_iters} probe-and-revise rounds done"
    if stale >= params.patience:
        return "converged", f"no improvement above {params.epsilon:g} for {stale} rounds"
    return None, ""


MAX_FAILED_SHARE = 0.2
"""A held-out score read from fewer than 80% of its records is real but thin: the neuron ends
`degraded` when more than this share of either explanation's held-out records failed."""


def heldout_problems(refined: ExplanationScore, oneshot: ExplanationScore) -> tuple[str | None, list[str]]:
    """(error, problems) of a neuron's held-out scoring: no refined score is an error (the neuron
    failed); an undefined one-shot score, or too many failed records, are problems (degraded)."""
    if refined.score is None:
        return f"no held-out score: {refined.score_reason}", []
    problems = []
    if oneshot.score is None:
        problems.append(f"the one-shot explanation has no held-out score: {oneshot.score_reason}")
    scored = [("refined", refined)] + ([("one-shot", oneshot)] if oneshot is not refined else [])
    for name, result in scored:
        if result.n_records and result.n_failed / result.n_records > MAX_FAILED_SHARE:
            problems.append(f"{result.n_failed} of the {result.n_records} held-out records failed for the {name} explanation "
                            f"(more than {MAX_FAILED_SHARE:.0%})")
    return None, problems
