"""Best-of-n: sample candidate explanations from train records, keep the best on the selection split."""

from __future__ import annotations

from collections.abc import Sequence

from tools.evaluate import ExplanationScore, score_explanation
from tools.explainers.base import Explainer
from tools.formats.openai import ActivationRecord
from tools.simulators.base import Simulator, gather_all


def rank_key(score: ExplanationScore) -> tuple[bool, float]:
    """Defined scores first, then higher scores; an undefined score never wins over a defined one."""
    return (score.score is not None, score.score if score.score is not None else float("-inf"))


def best_of(scores: Sequence[ExplanationScore]) -> ExplanationScore:
    return max(scores, key=rank_key)


async def score_candidates(
    texts: Sequence[str], records: Sequence[ActivationRecord], simulator: Simulator, split: str
) -> list[ExplanationScore]:
    return await gather_all(score_explanation(t, records, simulator, split) for t in texts)


async def propose(
    explainer: Explainer, simulator: Simulator, train: Sequence[ActivationRecord],
    selection: Sequence[ActivationRecord], n: int,
) -> list[ExplanationScore]:
    """n candidates written from `train`, each scored on `selection`, in the explainer's order."""
    texts = await explainer.explain(train, n)
    return await score_candidates(texts, selection, simulator, "valid")
