"""The reviser seam and what it is given."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from tools.formats.openai import ActivationRecord
from tools.probes.types import Counterexample, ProbeResult


class RevisionContext(BaseModel):
    """Everything a reviser may use. Never contains held-out records."""

    explanation: str
    score: float | None = Field(description="Selection-split score of `explanation` (pooled r).")
    best_records: list[ActivationRecord] = Field(
        description="Evidence records where the neuron is active that the explanation predicts best.")
    worst_records: list[ActivationRecord] = Field(
        description="Evidence records where the neuron is active that it predicts worst (tools/revisers/ranking.py).")
    worst_predictions: list[list[float]] = Field(
        default_factory=list, description="Per worst record, the values (0-10) the explanation predicted for its tokens.")
    counterexamples: list[Counterexample]
    train: list[ActivationRecord]
    evidence: list[ActivationRecord] = Field(
        default_factory=list, description="Records of the evidence (calibration) split: the loop may learn from them.")
    top_threshold: float | None = Field(
        None, description="Smallest maximum activation among the top records (raw units): a probe text reaching it "
                          "is as strong as a top record.")
    probes: list[ProbeResult] = Field(default_factory=list, description="Every probe run so far, with real activations.")
    max_activation: float = Field(description="The neuron's largest activation in its top records (raw units).")
    history: list[tuple[str, float | None]] = Field(default_factory=list, description="Earlier explanations and their scores.")
    mixture: dict[str, float] = Field(
        default_factory=lambda: {"top": 1.0, "random": 1.0},
        description="How many top and random records the explanation is judged on (the selection split's counts): "
                    "evidence is weighted to the same mixture.")


class Revision(BaseModel):
    """A revised explanation and what it was written to fix."""

    text: str
    answers: list[str] = Field(
        default_factory=list, description="Labels of the counterexamples it says it answers (the LLM reviser asks for them).")
    note: str | None = Field(None, description="How it was made, e.g. 'gate \"than\" after \"more\"'.")


@runtime_checkable
class Reviser(Protocol):
    @property
    def name(self) -> str: ...

    async def revise(self, context: RevisionContext, n: int) -> list[Revision]:
        """Up to `n` distinct revised explanations (without the fixed prefix); may raise NoExplanationError."""
        ...
