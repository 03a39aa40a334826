"""The loop's decisions as pure functions: adopt or reject a round's best candidate, stop or go on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graphs.context import RefineParams
from graphs.state import Candidate, Stop


def rank_key(candidate: Candidate | None) -> tuple[bool, float]:
    """Defined scores above undefined ones, then higher above lower."""
    if candidate is None or candidate["score"] is None:
        return (False, float("-inf"))
    return (True, candidate["score"])


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


@dataclass(frozen=True)
class Decision:
    best: Candidate | None
    top: Candidate | None
    """The round's best candidate (adopted or not)."""
    decision: str
    reason: str
    stale_rounds: int


def decide(best: Candidate | None, scored: Sequence[Candidate], iteration: int, stale: int, epsilon: float) -> Decision:
    """Iteration 0 adopts the best one-shot candidate; later rounds adopt a candidate only if it
    beats the best so far, and count a round as stale unless the gain exceeds `epsilon`."""
    top = max(scored, key=rank_key) if scored else None
    if iteration == 0:
        if top is None or top["score"] is None:
            reason = "no candidate has a defined selection score" if top is not None else "no candidate"
            return Decision(top, top, "failed", reason, stale)
        return Decision(top, top, "adopted", "best of the one-shot candidates", 0)
    if top is not None and rank_key(top) > rank_key(best):
        gain = (top["score"] or 0.0) - ((best or {}).get("score") or 0.0)
        return Decision(top, top, "adopted", f"selection score up by {gain:.4f}", 0 if gain > epsilon else stale + 1)
    reason = "no revision" if top is None else (
        f"revision scored {_fmt(top['score'])}, not above the best {_fmt(best['score'] if best else None)}")
    return Decision(best, top, "rejected", reason, stale + 1)


def should_stop(best: Candidate | None, iteration: int, stale: int, params: RefineParams) -> tuple[Stop | None, str]:
    score = best["score"] if best else None
    if params.target is not None and score is not None and score >= params.target:
        return "target", f"selection score {score:.4f} reached the target {params.target:g}"
    if iteration >= params.max_iters:
        return "max_iters", f"{params.max_iters} probe-and-revise rounds done"
    if stale >= params.patience:
        return "converged", f"no improvement above {params.epsilon:g} for {stale} rounds"
    return None, ""
