from graphs.context import RefineParams
from graphs.policy import decide, should_stop
from graphs.state import Candidate


def c(text: str, score: float | None, iteration: int = 1) -> Candidate:
    return Candidate(explanation=text, score=score, iteration=iteration, path=None)


def test_one_shot_adopts_the_best_defined_candidate() -> None:
    d = decide(None, [c("a", None, 0), c("b", 0.2, 0), c("c", 0.1, 0)], 0, 0, 0.01)
    assert (d.decision, d.best["explanation"]) == ("adopted", "b")  # type: ignore[index]
    assert decide(None, [c("a", None, 0)], 0, 0, 0.01).decision == "failed"


def test_a_worse_or_equal_revision_is_rejected_and_counts_as_stale() -> None:
    best = c("best", 0.5)
    d = decide(best, [c("worse", 0.4), c("undefined", None)], 3, 1, 0.01)
    assert d.decision == "rejected" and d.best is best and d.stale_rounds == 2 and d.top["explanation"] == "worse"  # type: ignore[index]
    assert decide(best, [], 3, 0, 0.01).reason == "no revision"


def test_a_small_gain_is_adopted_but_still_stale() -> None:
    d = decide(c("best", 0.5), [c("new", 0.505)], 2, 1, 0.01)
    assert d.decision == "adopted" and d.best["explanation"] == "new" and d.stale_rounds == 2  # type: ignore[index]
    big = decide(c("best", 0.5), [c("new", 0.6)], 2, 1, 0.01)
    assert big.stale_rounds == 0


def test_stop_rules() -> None:
    params = RefineParams(max_iters=4, patience=2, target=0.9)
    assert should_stop(c("x", 0.95), 1, 0, params)[0] == "target"
    assert should_stop(c("x", 0.5), 4, 0, params)[0] == "max_iters"
    assert should_stop(c("x", 0.5), 2, 2, params)[0] == "converged"
    assert should_stop(c("x", 0.5), 2, 1, params) == (None, "")
