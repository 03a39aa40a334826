"""Score any explanation of a neuron on its held-out split: r with its interval, the field's scorers beside it,
and what the neuron does to the output."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from tools.evaluate import score_explanation
from tools.records.neuron_data import NeuronData
from tools.scorers import FieldScores, field_scores
from tools.simulators.base import Simulator
from tools.subject.base import OutputReader
from tools.subject.output_side import OutputSide, ablation_windows


class ScoreOutcome(BaseModel):
    layer: int
    neuron: int
    explanation: str
    method: str = Field(description="Simulator method that produced every score here.")
    heldout_score: float | None = Field(description="Pooled r on the held-out (test) split.")
    heldout_ci: tuple[float, float] | None
    heldout_reason: str | None = None
    scorers: FieldScores
    output: OutputSide | None = Field(None, description="None when not asked for or the subject cannot say.")
    simulate_seconds: float = Field(description="Wall time to simulate the held-out records and correlate.")
    scorers_seconds: float = Field(description="Wall time of the field's scorers on that simulation.")


async def score_neuron(data: NeuronData, explanation: str, simulator: Simulator, reader: OutputReader | None,
                       seed: int = 0) -> ScoreOutcome:
    """`reader` (the subject, when it can) reads the output side; None skips it."""
    started = time.monotonic()
    result = await score_explanation(explanation, data.final_heldout(), simulator, "test", with_ci=True, seed=seed)
    simulated = time.monotonic()
    scorers = field_scores(result, data.heldout_top_count, data.max_activation, seed)
    scored = time.monotonic()
    output = None
    if reader is not None:
        tops = data.record.most_positive_activation_records
        windows = ablation_windows([(r.token_ids or [], r.activations) for r in tops])
        output = reader.output_side(data.layer, data.neuron, windows) if windows else None
    return ScoreOutcome(layer=data.layer, neuron=data.neuron, explanation=explanation, method=result.method,
                        heldout_score=result.score, heldout_ci=result.ci, heldout_reason=result.score_reason, scorers=scorers,
                        output=output, simulate_seconds=round(simulated - started, 4), scorers_seconds=round(scored - simulated, 4))
