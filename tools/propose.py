"""Best-of-n: sample candidate explanations from train records, keep the best on the selection split."""

from __future__ import annotations

from collections.abc import Sequence

from tools.compare import rank
from tools.evaluate import ExplanationScore, score_explanation
from tools.explainers.base import Explainer
from tools.formats.openai import ActivationRecord
from tools.simulators.base import Simulator, gather_all


def best_of(scores: Sequence[ExplanationScore]) -> ExplanationScore:
    """The best candidate by the loop's own ranking (`tools.compare.rank`: like with like, a failed record
    counting against the candidate that failed it), so `explain`, the triage and the graph choose alike."""
    return scores[rank(scores).order[0]]


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
