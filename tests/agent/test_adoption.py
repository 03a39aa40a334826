"""Choosing between explanations: like with like, failures counted against the one that failed, and
a revision adopted only when it wins beyond noise (graphs/policy.py, tools/compare.py; docs/science.md#choosing)."""

from __future__ import annotations

import numpy as np

from graphs.context import RefineParams
from graphs.policy import decide
from graphs.state import Candidate
from tools.compare import judge, outpaced, rank
from tools.evaluate import ExplanationScore, score_simulations
from tools.formats.openai import ActivationRecord
from tools.simulators.base import RecordSimulation

RNG = np.random.default_rng(0)
TRUE = [RNG.gamma(0.6, 1.0, 16) for _ in range(30)]
RECORDS = [ActivationRecord(tokens=[f"t{i}" for i in range(16)], activations=t.tolist()) for t in TRUE]


def scored(name: str, noise: float, failed: frozenset[int] = frozenset(), seed: int = 1,
           base: ExplanationScore | None = None) -> ExplanationScore:
    """Simulations `noise` away from the truth (or from `base`'s own simulations), some records failed."""
    rng = np.random.default_rng(seed)
    sims = []
    for i, (r, t) in enumerate(zip(RECORDS, TRUE, strict=True)):
        centre = np.asarray(base.simulations[i].expected) if base is not None else t
        if i in failed:
            sims.append(RecordSimulation.failed("test", r.tokens, "unreadable answer"))
        else:
            sims.append(RecordSimulation(method="test", tokens=r.tokens, expected=(centre + rng.normal(0, noise, t.shape)).tolist()))
    return score_simulations(name, RECORDS, sims, "valid", "test")


def candidate(result: ExplanationScore, iteration: int) -> Candidate:
    return Candidate(explanation=result.explanation, score=result.score, iteration=iteration, path=None)


def test_a_candidate_cannot_climb_by_failing_its_hard_records() -> None:
    # B predicts well only where it was read; it failed the records with the largest activations.
    hard = set(np.argsort([-t.max() for t in TRUE])[:10].tolist())
    a = scored("a", 0.6)
    b = scored("b", 0.3, failed=frozenset(hard), seed=2)
    assert b.score is not None and a.score is not None and b.score > a.score  # on its own records B looks better
    ranking = rank([a, b])
    values = ranking.values
    assert values[0] is not None and values[1] is not None and values[0] > values[1]
    assert ranking.order == [0, 1]


def test_the_adoption_rule_refuses_a_noise_level_win_and_takes_a_real_one() -> None:
    params = RefineParams(adopt_confidence=0.95)
    incumbent = scored("incumbent", 1.0, seed=3)
    # The incumbent's own predictions, jittered: whichever scores higher does so by noise alone.
    twins = [scored("twin", 0.05, seed=s, base=incumbent) for s in range(4, 40)]
    noise_win = next(t for t in twins if (t.score or 0) > (incumbent.score or 0))
    verdict = judge(incumbent, noise_win, params.adopt_confidence)
    assert not verdict.adopt and "within noise" in verdict.reason
    d = decide(candidate(incumbent, 0), incumbent, [candidate(noise_win, 1)], [noise_win], 1, 0, params)
    assert d.decision == "rejected" and d.best is not None and d.best["explanation"] == "incumbent" and d.stale_rounds == 1
    assert d.verdicts[0].p_better is not None and d.verdicts[0].p_better < 0.95
    better = scored("better", 0.3, seed=6)
    d = decide(candidate(incumbent, 0), incumbent, [candidate(better, 1)], [better], 1, 0, params)
    assert d.decision == "adopted" and d.best is not None and d.best["explanation"] == "better" and d.stale_rounds == 0
    assert "P(better)" in d.reason


def test_one_shot_takes_the_best_candidate_and_fails_when_none_is_defined() -> None:
    params = RefineParams()
    good, poor = scored("good", 0.3), scored("poor", 1.5)
    d = decide(None, None, [candidate(poor, 0), candidate(good, 0)], [poor, good], 0, 0, params)
    assert d.decision == "adopted" and d.best is not None and d.best["explanation"] == "good"
    flat = score_simulations("flat", RECORDS, [RecordSimulation(method="test", tokens=r.tokens, expected=[1.0] * 16)
                                               for r in RECORDS], "valid", "test")
    assert decide(None, None, [candidate(flat, 0)], [flat], 0, 0, params).decision == "failed"


def test_a_race_stops_only_the_candidates_the_leader_beats_beyond_noise() -> None:
    leader = scored("leader", 0.5, seed=5)
    rival = scored("rival", 0.5, seed=6)  # as good, up to noise
    far = scored("far", 3.0, seed=7)
    beaten = outpaced([rival, leader, far], 0.95)
    assert set(beaten) == {2}, "only the far candidate is beaten beyond noise"
    assert beaten[2].challenger_score is not None and beaten[2].incumbent_score is not None
    assert beaten[2].challenger_score > beaten[2].incumbent_score
    assert outpaced([leader], 0.95) == {}
