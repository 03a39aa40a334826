"""Stop rules (adoption is tested in test_adoption.py)."""

from graphs.context import RefineParams
from graphs.policy import should_stop
from graphs.state import Candidate


def c(text: str, score: float | None, iteration: int = 1) -> Candidate:
    return Candidate(explanation=text, score=score, iteration=iteration, path=None)


def test_stop_rules() -> None:
    params = RefineParams(max_iters=4, patience=2, target=0.9)
    assert should_stop(c("x", 0.95), 1, 0, params)[0] == "target"
    assert should_stop(c("x", 0.5), 4, 0, params)[0] == "max_iters"
    assert should_stop(c("x", 0.5), 2, 2, params)[0] == "converged"
    assert should_stop(c("x", 0.5), 2, 1, params) == (None, "")
