"""The field's scorers for an explanation already simulated on held-out records (docs/science.md#field-scorers).

Correlation stays the score; these sit beside it. Detection and fuzzing (delphi) use every held-out
record; F1, IoU and AUPRC (NeuronEval) the uniformly sampled (random) records only. The judge is
the thresholded simulation: whatever simulator scored the explanation answers the classification
questions too, at no extra cost. Asked for (`with_llm_judge`), an LLM answers detection and fuzzing
as delphi's judge on the same excerpts, beside the simulation's answers and with what it cost
(`tools/llm_judge.py`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.evaluate import ExplanationScore
from tools.llm.protocol import LLM
from tools.llm_judge import LLMJudged, llm_judged
from tools.science.classification import (
    ACTIVE_FRACTION,
    SIMULATED_ACTIVE,
    active_threshold,
    average_precision,
    balanced_accuracy,
    detection_items,
    f1_and_iou,
    fuzzing_items,
    judge_by_simulation,
)
from tools.science.scoring import aggregate_correlation

JUDGE = "simulation-thresholded"


class FieldScores(BaseModel):
    """Detection, fuzzing and uniform-sample scores of one explanation on its held-out records."""

    judge: str = Field(JUDGE, description="What answered: the thresholded simulation, or an LLM's 0/1 answers.")
    active_fraction: float = Field(ACTIVE_FRACTION, description="A real activation ≥ this share of the neuron's max counts as active.")
    threshold: float = Field(description="That threshold in raw activation units.")
    simulated_threshold: float = Field(SIMULATED_ACTIVE, description="A simulated value (0-10) ≥ this counts as predicted active.")
    detection: float | None = Field(description="Balanced accuracy (0-1, chance 0.5) on all held-out excerpts; None without both classes.")
    fuzzing: float | None = Field(description="Balanced accuracy (0-1, chance 0.5) of the highlighted tokens matching.")
    f1: float | None = Field(description="F1 of predicted vs real active tokens on the random records (0-1).")
    iou: float | None = Field(description="Intersection over union of the same masks (0-1).")
    auprc: float | None = Field(description="Average precision of simulated values against real active labels, random records (0-1).")
    random_r: float | None = Field(description="Pooled Pearson r on the random records alone.")
    positives: int = Field(description="Held-out excerpts with an active token.")
    negatives: int = Field(description="Held-out excerpts without one.")
    random_active_tokens: int = Field(description="Active tokens among the random records (F1's support).")
    llm: LLMJudged | None = Field(None, description="Detection and fuzzing answered by an LLM on the same excerpts (--judge llm), "
                                                    "with its calls, tokens and cost; None when not asked.")


def field_scores(score: ExplanationScore, n_top: int, max_activation: float, seed: int = 0) -> FieldScores:
    """`score` holds held-out records in OpenAI's order (top records, then random ones); records whose
    simulation failed are left out, as in the correlation."""
    threshold = active_threshold(max_activation)
    kept = _kept(score)
    records = _records(score, kept)
    simulated = [score.simulations[i].expected or [] for i in kept]
    detect, fuzz = detection_items(records, threshold), fuzzing_items(records, threshold, seed)
    random = [k for k, i in enumerate(kept) if i >= n_top]
    real = [a >= threshold for k in random for a in records[k][1]]
    predicted = [v for k in random for v in simulated[k]]
    f1, iou = f1_and_iou(real, [v >= SIMULATED_ACTIVE for v in predicted])
    return FieldScores(
        threshold=threshold,
        detection=balanced_accuracy([d.positive for d in detect], judge_by_simulation(detect, simulated)).value,
        fuzzing=balanced_accuracy([d.positive for d in fuzz], judge_by_simulation(fuzz, simulated)).value,
        f1=f1.value, iou=iou.value, auprc=average_precision(real, predicted).value,
        random_r=aggregate_correlation([(records[k][1], simulated[k]) for k in random]).value,
        positives=sum(d.positive for d in detect), negatives=sum(not d.positive for d in detect),
        random_active_tokens=sum(real),
    )


def _kept(score: ExplanationScore) -> list[int]:
    return [i for i, s in enumerate(score.simulations) if s.ok and s.expected is not None]


def _records(score: ExplanationScore, kept: list[int]) -> list[tuple[list[str], list[float]]]:
    return [(score.simulations[i].tokens, score.true_activations[i]) for i in kept]


async def with_llm_judge(scores: FieldScores, score: ExplanationScore, llm: LLM, seed: int = 0) -> FieldScores:
    """`scores` (of `score`) with an LLM's detection and fuzzing beside the simulation's, on the same excerpts
    and threshold. An LLMError or a budget refusal propagates: the caller says there is no LLM score."""
    judged = await llm_judged(llm, score.explanation, _records(score, _kept(score)), scores.threshold, seed)
    return scores.model_copy(update={"llm": judged})
