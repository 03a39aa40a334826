"""The reviser seam and what it is given.

A reviser may want its own hypotheses tested on new text before it revises (the builtin reviser's
context gates): after each probe round the loop hands it what the round found (`ProbeFindings`), runs
the texts it asks for (`Reviser.test_probes`) beside the round's probes, and shows it their results
in the next `RevisionContext`. A reviser without such hypotheses asks for none, so the loop does no
work for it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from tools.formats.openai import ActivationRecord
from tools.probes.generators import ProbeSources
from tools.probes.types import Counterexample, ProbeResult, ProbeText


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


class ProbeFindings(BaseModel):
    """What a probe round found, for a reviser that tests its own hypotheses before it revises. Never
    contains held-out records."""

    counterexamples: list[Counterexample] = Field(description="This round's counterexamples.")
    train: list[ActivationRecord]
    evidence: list[ActivationRecord] = Field(description="Records of the evidence (calibration) split.")
    probes: list[ProbeResult] = Field(description="Every probe run so far, this round's included, with real activations.")
    mixture: dict[str, float] = Field(description="How many top and random records the explanation is judged on.")
    top_threshold: float | None = Field(None, description="Smallest maximum activation among the top records (raw units).")


@runtime_checkable
class Reviser(Protocol):
    @property
    def name(self) -> str: ...

    def test_probes(self, findings: ProbeFindings, sources: ProbeSources, k: int) -> list[ProbeText]:
        """Texts, drawn from `sources` (about `k` per hypothesis), that test this reviser's own
        hypotheses on new text before any revision may use them; none for a reviser that has none."""
        ...

    async def revise(self, context: RevisionContext, n: int) -> list[Revision]:
        """Up to `n` distinct revised explanations (without the fixed prefix); may raise NoExplanationError."""
        ...
