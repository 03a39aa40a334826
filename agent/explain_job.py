"""One-shot explanation of a neuron: best-of-n on the selection split, then the held-out score."""

from __future__ import annotations

from typing import TypedDict

from pydantic import BaseModel, Field

from agent.backends import Backend
from tools.evaluate import score_explanation
from tools.explainers.base import NoExplanationError
from tools.llm.ledger import UsageTotals
from tools.llm.protocol import LLMError
from tools.propose import best_of, propose
from tools.records.neuron_data import NeuronData


class CandidateSummary(BaseModel):
    explanation: str
    selection_score: float | None


class ExplainOutcome(BaseModel):
    layer: int
    neuron: int
    status: str = Field(description="ok | failed")
    error: str | None = None
    explanation: str | None = None
    method: str = Field(description="Simulator method that produced every score here.")
    backend: str
    selection_score: float | None = Field(None, description="Pooled r on the selection (valid) split that chose it.")
    heldout_score: float | None = Field(None, description="Pooled r on the held-out (test) split no step looked at.")
    heldout_ci: tuple[float, float] | None = None
    heldout_reason: str | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    candidates: list[CandidateSummary] = Field(default_factory=list)


async def explain_neuron(data: NeuronData, backend: Backend, n: int, seed: int = 0) -> ExplainOutcome:
    before = backend.ledger.total
    base: _Identity = {"layer": data.layer, "neuron": data.neuron, "method": backend.simulator.method, "backend": backend.name}
    try:
        candidates = await propose(backend.explainer, backend.simulator, data.train(), data.selection(), n)
    except (NoExplanationError, LLMError) as err:
        return ExplainOutcome(status="failed", error=str(err), **base, **_spend(backend, before))
    best = best_of(candidates)
    final = await score_explanation(best.explanation, data.final_heldout(), backend.simulator, "test", with_ci=True, seed=seed)
    return ExplainOutcome(
        status="ok", explanation=best.explanation, selection_score=best.score, heldout_score=final.score,
        heldout_ci=final.ci, heldout_reason=final.score_reason,
        candidates=[CandidateSummary(explanation=c.explanation, selection_score=c.score) for c in candidates],
        **base, **_spend(backend, before),
    )


class _Identity(TypedDict):
    layer: int
    neuron: int
    method: str
    backend: str


class _Spend(TypedDict):
    tokens: int
    cost_usd: float


def _spend(backend: Backend, before: UsageTotals) -> _Spend:
    now = backend.ledger.total
    tokens = (now.prompt_tokens + now.completion_tokens) - (before.prompt_tokens + before.completion_tokens)
    return {"tokens": tokens, "cost_usd": round(now.cost_usd - before.cost_usd, 6)}
